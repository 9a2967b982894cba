package auth

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// argon2id parameters: OWASP's minimum (19 MiB, 2 passes, 1 lane).
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
)

// hashSlots bounds concurrent argon2 computations so a login flood cannot
// exhaust memory (each takes 19 MiB).
var hashSlots = make(chan struct{}, 4)

// Credentials returns Kazoo's login credential digests for a user:
// hex MD5 and hex SHA-1 of lowercase(username) + ":" + password.
func Credentials(username, password string) (md5hex, sha1hex string) {
	s := strings.ToLower(username) + ":" + password
	m := md5.Sum([]byte(s))
	h := sha1.Sum([]byte(s))
	return hex.EncodeToString(m[:]), hex.EncodeToString(h[:])
}

// HashSecret returns an encoded argon2id hash of secret with a fresh salt.
func HashSecret(secret string) string {
	salt := []byte(randomHex(16))[:16]
	hashSlots <- struct{}{}
	sum := argon2.IDKey([]byte(secret), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	<-hashSlots
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemory, argonTime, argonThreads, enc.EncodeToString(salt), enc.EncodeToString(sum))
}

// VerifySecret reports whether secret matches an encoded argon2id hash. An
// empty or malformed hash never matches, but still costs a hash
// computation so that timing does not reveal which case it was.
func VerifySecret(encoded, secret string) bool {
	salt, want, t, m, p, err := decodeHash(encoded)
	if err != nil {
		salt, want, t, m, p = []byte("strowger-dummy-s"), make([]byte, argonKeyLen), argonTime, argonMemory, argonThreads
	}
	hashSlots <- struct{}{}
	got := argon2.IDKey([]byte(secret), salt, t, m, p, uint32(len(want)))
	<-hashSlots
	return err == nil && subtle.ConstantTimeCompare(got, want) == 1
}

func decodeHash(encoded string) (salt, sum []byte, t, m uint32, p uint8, err error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return nil, nil, 0, 0, 0, errors.New("not an argon2id hash")
	}
	var v int
	if _, err = fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return nil, nil, 0, 0, 0, errors.New("unsupported argon2 version")
	}
	if _, err = fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return nil, nil, 0, 0, 0, fmt.Errorf("argon2 parameters: %w", err)
	}
	// Refuse absurd parameters from a tampered store.
	if m == 0 || m > 1<<20 || t == 0 || t > 16 || p == 0 {
		return nil, nil, 0, 0, 0, errors.New("argon2 parameters out of range")
	}
	enc := base64.RawStdEncoding
	if salt, err = enc.DecodeString(parts[4]); err != nil {
		return nil, nil, 0, 0, 0, fmt.Errorf("argon2 salt: %w", err)
	}
	if sum, err = enc.DecodeString(parts[5]); err != nil || len(sum) < 16 || len(sum) > 64 {
		return nil, nil, 0, 0, 0, errors.New("argon2 hash length")
	}
	return salt, sum, t, m, p, nil
}
