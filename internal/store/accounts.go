package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// Account reads an account document (stored under its own ID).
func (s *Store) Account(ctx context.Context, id string) (*Doc, error) {
	return s.Get(ctx, id, TypeAccount, id)
}

// DeletedAccountTree reports whether id names a deleted account and, if so,
// the ancestors it had (root first).
func (s *Store) DeletedAccountTree(ctx context.Context, id string) ([]string, bool, error) {
	if !IsID(id) {
		return nil, false, nil
	}
	e, err := s.b.Index.Get(ctx, IndexDeletedAccount(id))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("reading account tombstone %s: %w", id, err)
	}
	var tree []string
	if err := json.Unmarshal(e.Value(), &tree); err != nil {
		return nil, false, fmt.Errorf("decoding account tombstone %s: %w", id, err)
	}
	return tree, true, nil
}

func (s *Store) writeTombstone(ctx context.Context, acct *Doc) error {
	tree := Tree(acct.Body)
	if tree == nil {
		tree = []string{}
	}
	val, _ := json.Marshal(tree)
	if _, err := s.b.Index.Put(ctx, IndexDeletedAccount(acct.ID), val); err != nil {
		return fmt.Errorf("writing account tombstone %s: %w", acct.ID, err)
	}
	return nil
}

// Children lists the IDs of an account's direct children.
func (s *Store) Children(ctx context.Context, parent string) ([]string, error) {
	if !IsID(parent) {
		return nil, nil
	}
	keys, err := s.IndexKeys(ctx, IndexChildFilter(parent))
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		child := k[strings.LastIndexByte(k, '.')+1:]
		// An edge whose account is gone is stale (its writer died): skip it.
		if _, err := s.Account(ctx, child); err == nil {
			out = append(out, child)
		} else if !errors.Is(err, ErrNotFound) {
			return nil, err
		}
	}
	return out, nil
}

// Descendants lists every account below id, breadth first, bounded by max.
func (s *Store) Descendants(ctx context.Context, id string, max int) ([]string, error) {
	var out []string
	queue := []string{id}
	for len(queue) > 0 && len(out) < max {
		kids, err := s.Children(ctx, queue[0])
		if err != nil {
			return nil, err
		}
		queue = append(queue[1:], kids...)
		out = append(out, kids...)
	}
	if len(out) > max {
		out = out[:max]
	}
	return out, nil
}

// AccountByRealm finds the account owning a SIP realm.
func (s *Store) AccountByRealm(ctx context.Context, realm string) (string, error) {
	acct, _, _, err := s.IndexOwner(ctx, IndexRealm(strings.ToLower(realm)))
	return acct, err
}

// AccountsByName finds the accounts with a name (names are not unique).
func (s *Store) AccountsByName(ctx context.Context, name string) ([]string, error) {
	keys, err := s.IndexKeys(ctx, IndexAccountNameFilter(strings.ToLower(name)))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, k := range keys {
		out = append(out, k[strings.LastIndexByte(k, '.')+1:])
	}
	return out, nil
}

// AccountsByPhoneNumber lists the accounts that route a phone number in
// one of their callflows (several accounts may, in theory, list the same
// number; callers bound how many they try).
func (s *Store) AccountsByPhoneNumber(ctx context.Context, number string) ([]string, error) {
	digits, ok := PhoneDigits(number)
	if !ok {
		return nil, nil
	}
	keys, err := s.IndexKeys(ctx, IndexDIDFilter(digits))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, k := range keys {
		parts := strings.Split(k, ".")
		if len(parts) == 4 && !slices.Contains(out, parts[2]) {
			out = append(out, parts[2])
		}
	}
	sort.Strings(out)
	return out, nil
}

// AccountByAPIKey finds the account whose API key this is.
func (s *Store) AccountByAPIKey(ctx context.Context, key string) (string, error) {
	acct, _, _, err := s.IndexOwner(ctx, IndexAPIKey(APIKeyDigest(key)))
	if err != nil {
		return "", err
	}
	// The index may be stale (key regenerated): confirm on the document.
	d, err := s.Account(ctx, acct)
	if err != nil {
		return "", err
	}
	if str(d.Body["pvt_api_key"]) != key {
		return "", ErrNotFound
	}
	return acct, nil
}

// UserByUsername finds a user by login name within an account.
func (s *Store) UserByUsername(ctx context.Context, account, username string) (*Doc, error) {
	_, _, id, err := s.IndexOwner(ctx, IndexUsername(account, strings.ToLower(username)))
	if err != nil {
		return nil, err
	}
	d, err := s.Get(ctx, account, TypeUser, id)
	if err != nil {
		return nil, err
	}
	if !strings.EqualFold(str(d.Body["username"]), username) {
		return nil, ErrNotFound
	}
	return d, nil
}

// UserByCredential finds the user holding a login credential hash.
func (s *Store) UserByCredential(ctx context.Context, account, hash string) (*Doc, error) {
	_, _, id, err := s.IndexOwner(ctx, IndexCredential(account, hash))
	if err != nil {
		return nil, err
	}
	d, err := s.Get(ctx, account, TypeUser, id)
	if err != nil {
		return nil, err
	}
	// Confirm on the document: the index entry may be stale.
	if str(d.Body["pvt_md5_auth"]) != hash && str(d.Body["pvt_sha1_auth"]) != hash {
		return nil, ErrNotFound
	}
	return d, nil
}

// SIPCredential implements the edge's Directory: the device whose SIP
// username is username in the account whose realm is realm. Disabled
// accounts and devices, and IP-authenticated devices, are not found.
func (s *Store) SIPCredential(ctx context.Context, realm, username string) (SIPCredential, bool, error) {
	realm = strings.ToLower(realm)
	acct, err := s.AccountByRealm(ctx, realm)
	if errors.Is(err, ErrNotFound) {
		return SIPCredential{}, false, nil
	}
	if err != nil {
		return SIPCredential{}, false, err
	}
	a, err := s.Account(ctx, acct)
	if errors.Is(err, ErrNotFound) {
		return SIPCredential{}, false, nil
	}
	if err != nil {
		return SIPCredential{}, false, err
	}
	if !strings.EqualFold(str(a.Body["realm"]), realm) || a.Body["enabled"] == false {
		return SIPCredential{}, false, nil
	}
	_, _, devID, err := s.IndexOwner(ctx, IndexSIPUser(acct, username))
	if errors.Is(err, ErrNotFound) {
		return SIPCredential{}, false, nil
	}
	if err != nil {
		return SIPCredential{}, false, err
	}
	d, err := s.Get(ctx, acct, TypeDevice, devID)
	if errors.Is(err, ErrNotFound) {
		return SIPCredential{}, false, nil
	}
	if err != nil {
		return SIPCredential{}, false, err
	}
	sip, _ := d.Body["sip"].(map[string]any)
	if str(sip["username"]) != username || d.Body["enabled"] == false || str(sip["method"]) == "ip" {
		return SIPCredential{}, false, nil
	}
	return SIPCredential{
		AccountID: acct, DeviceID: devID, OwnerID: str(d.Body["owner_id"]),
		Realm: realm, Username: username, Password: str(sip["password"]),
	}, true, nil
}

// MasterAccount returns the master account's ID, or ErrNotFound before
// the first start has created it.
func (s *Store) MasterAccount(ctx context.Context) (string, error) {
	e, err := s.b.System.Get(ctx, SystemMasterAccount)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("reading master account: %w", err)
	}
	return string(e.Value()), nil
}

// SetMasterAccount records the master account once; it returns the ID that
// is recorded, which differs from id when another node got there first.
func (s *Store) SetMasterAccount(ctx context.Context, id string) (string, error) {
	_, err := s.b.System.Create(ctx, SystemMasterAccount, []byte(id))
	if errors.Is(err, jetstream.ErrKeyExists) {
		return s.MasterAccount(ctx)
	}
	if err != nil {
		return "", fmt.Errorf("recording master account: %w", err)
	}
	if err := s.Sync(ctx); err != nil {
		return "", fmt.Errorf("recording master account: %w", err)
	}
	return id, nil
}

// SystemValue reads a system key; ErrNotFound when absent.
func (s *Store) SystemValue(ctx context.Context, key string) ([]byte, error) {
	e, err := s.b.System.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", key, err)
	}
	return e.Value(), nil
}

// CreateSystemValue sets a system key if absent and returns the value that
// is stored (the existing one when another node set it first).
func (s *Store) CreateSystemValue(ctx context.Context, key string, val []byte) ([]byte, error) {
	_, err := s.b.System.Create(ctx, key, val)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return s.SystemValue(ctx, key)
	}
	if err != nil {
		return nil, fmt.Errorf("setting %s: %w", key, err)
	}
	if err := s.Sync(ctx); err != nil {
		return nil, fmt.Errorf("setting %s: %w", key, err)
	}
	return val, nil
}
