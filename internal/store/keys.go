// Key layouts of every JetStream KV bucket, stream and object store that
// Strowger uses. Nothing else in the tree builds a key by hand.
//
// Account IDs and document IDs are 32 lowercase hex characters and are used
// in keys as they are; any user-supplied string (realm, SIP username, number,
// pattern, login name, API key digest) goes through bus.Token first.
package store

import "github.com/strowger/strowger/internal/bus"

// Bucket, stream and object-store names.
const (
	// BucketDocs holds tenant configuration documents, file storage, synced
	// to disk on every write. Key: <account>.<type>.<id>.
	BucketDocs = "strowger_docs"
	// BucketIndex holds uniqueness and lookup indexes, file storage, synced.
	// Every index key is created with create-if-absent; see the index layout below.
	BucketIndex = "strowger_index"
	// BucketSystem holds cluster-wide settings (token signing keys, the
	// master account pointer). File storage, synced.
	BucketSystem = "strowger_system"
	// BucketRegistrations holds SIP bindings with a per-key TTL; memory
	// storage (phones re-register), replicated in a cluster.
	// Key: <account>.<username-token>.<binding-id>.
	BucketRegistrations = "strowger_registrations"
	// BucketNodes holds node heartbeats and load with a TTL. Key: <node-id>.
	BucketNodes = "strowger_nodes"
	// BucketBans holds source bans shared by every edge, with a TTL.
	// Key: <ip-token>.
	BucketBans = "strowger_bans"
	// BucketCalls holds call ownership and checkpoints. Key: <call-token>.
	BucketCalls = "strowger_calls"
	// StreamCDR holds CDRs under bus.CDRAll, file storage, synced.
	StreamCDR = "STROWGER_CDR"
	// ObjectMedia holds uploaded media, prompts, voicemail and recordings.
	// Object name: <account>/<media-id>.
	ObjectMedia = "strowger_media"
)

// DocKey is the key of one document: <account>.<type>.<id>.
func DocKey(account, docType, id string) string { return account + "." + docType + "." + id }

// DocTypeFilter matches every document of one type in one account.
func DocTypeFilter(account, docType string) string { return account + "." + docType + ".*" }

// AccountFilter matches every document of one account.
func AccountFilter(account string) string { return account + ".>" }

// Index key layouts (bucket BucketIndex). The value of a uniqueness index is
// JSON {"account":…, "type":…, "id":…} naming the document that owns it.
//
//	realm.<realm-token>                     unique realm (lowercased) system-wide
//	sipuser.<account>.<username-token>      unique device SIP username within an account (= its realm)
//	number.<account>.<number-token>         unique callflow number within an account
//	pattern.<account>.<pattern-token>       unique callflow pattern within an account
//	username.<account>.<login-token>        unique user login (lowercased) within an account
//	cred.<account>.<credential-hash>        user login credential (auth.CredentialHash) → user
//	mailbox.<account>.<mailbox-token>       unique voicemail box number within an account
//	apikey.<sha256-hex-of-key>              API key → account
//	child.<parent>.<child>                  account tree edge (value: empty)
//	acctname.<name-token>.<account>         account name (lowercased) → account, not unique
//	did.<digits>.<account>.<callflow>       phone number (digits only) → account, not unique
//	gone.<account>                          deleted account's tombstone (value: JSON pvt_tree)
func IndexRealm(realm string) string { return "realm." + bus.Token(realm) }

// IndexSIPUser is the key of a device's SIP username within an account.
// Realms are unique per account, so this is uniqueness within the realm, and
// a realm change never strands device index keys.
func IndexSIPUser(account, username string) string {
	return "sipuser." + account + "." + bus.Token(username)
}

// IndexNumber is the key of a callflow number within an account.
func IndexNumber(account, number string) string { return "number." + account + "." + bus.Token(number) }

// IndexPattern is the key of a callflow pattern within an account.
func IndexPattern(account, pattern string) string {
	return "pattern." + account + "." + bus.Token(pattern)
}

// IndexPatternFilter matches every pattern index key of an account.
func IndexPatternFilter(account string) string { return "pattern." + account + ".*" }

// IndexUsername is the key of a user's login name within an account.
func IndexUsername(account, username string) string {
	return "username." + account + "." + bus.Token(username)
}

// IndexCredential is the key of a user's login credential hash.
func IndexCredential(account, hash string) string { return "cred." + account + "." + hash }

// IndexMailbox is the key of a voicemail box number within an account.
func IndexMailbox(account, mailbox string) string {
	return "mailbox." + account + "." + bus.Token(mailbox)
}

// IndexAPIKey is the key of an API key, by the hex SHA-256 of the key.
func IndexAPIKey(keyDigest string) string { return "apikey." + keyDigest }

// IndexChild is the key of one parent→child account edge.
func IndexChild(parent, child string) string { return "child." + parent + "." + child }

// IndexChildFilter matches every child edge of one parent.
func IndexChildFilter(parent string) string { return "child." + parent + ".*" }

// IndexAccountName is the key of an account's name entry.
func IndexAccountName(name, account string) string {
	return "acctname." + bus.Token(name) + "." + account
}

// IndexAccountNameFilter matches every account with the given name.
func IndexAccountNameFilter(name string) string { return "acctname." + bus.Token(name) + ".*" }

// IndexDID is the key by which a phone number in a callflow finds its
// account (user_auth with phone_number). digits is PhoneDigits' result.
func IndexDID(digits, account, callflow string) string {
	return "did." + digits + "." + account + "." + callflow
}

// IndexDIDFilter matches every account with a callflow for the number.
func IndexDIDFilter(digits string) string { return "did." + digits + ".*.*" }

// IndexDeletedAccount is the tombstone of a deleted account: its ancestors,
// so its former parents can be told "gone" (404) rather than "forbidden".
func IndexDeletedAccount(account string) string { return "gone." + account }

// System keys (bucket BucketSystem).
const (
	// SystemSigningKey holds the HMAC key API tokens are signed with.
	SystemSigningKey = "auth.signing_key"
	// SystemMasterAccount holds the master account's ID.
	SystemMasterAccount = "master_account"
)

// RegistrationKey is the key of one SIP binding.
func RegistrationKey(account, username, bindingID string) string {
	return account + "." + bus.Token(username) + "." + bindingID
}

// RegistrationAORFilter matches every binding of one address of record.
func RegistrationAORFilter(account, username string) string {
	return account + "." + bus.Token(username) + ".*"
}

// RegistrationAccountFilter matches every binding of one account.
func RegistrationAccountFilter(account string) string { return account + ".>" }

// NodeKey is the heartbeat key of a node.
func NodeKey(nodeID string) string { return nodeID }

// BanKey is the key of a banned source address.
func BanKey(ip string) string { return bus.Token(ip) }

// CallKey is the ownership/checkpoint key of a call.
func CallKey(callID string) string { return bus.Token(callID) }

// ChannelKey is a call leg's entry in its account's channel index, in
// BucketCalls next to the call keys: chan.<account>.<call-token>. Its
// value is the leg's channel (b2bua.Record without the checkpoint), with
// a per-key TTL the owning node refreshes, so a dead node's entries expire.
func ChannelKey(account, callID string) string { return "chan." + account + "." + bus.Token(callID) }

// ChannelFilter matches every channel index entry of one account.
func ChannelFilter(account string) string { return "chan." + account + ".*" }

// MediaObject is the object-store name of an account's media file.
func MediaObject(account, mediaID string) string { return account + "/" + mediaID }
