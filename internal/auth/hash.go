package auth

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
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

// CredentialHash is the slow hash under which a login credential digest is
// stored and indexed: argon2id with a salt derived from the account.
//
// It is deterministic per account so that a login (which sends only the
// digest, not the username) is one argon2 computation and one index
// lookup, while an offline attacker who has the store still pays a full
// argon2id per guess per account. Usernames are unique within an account,
// so two users never share a digest there.
func CredentialHash(account, digest string) string {
	salt := sha256.Sum256([]byte("strowger-login:" + account))
	hashSlots <- struct{}{}
	sum := argon2.IDKey([]byte(strings.ToLower(digest)), salt[:16], argonTime, argonMemory, argonThreads, argonKeyLen)
	<-hashSlots
	return hex.EncodeToString(sum)
}
