package store

// SIPCredential is what the SIP edge needs to authenticate a device: the
// device's SIP username and password and the tenant it belongs to.
type SIPCredential struct {
	AccountID string
	DeviceID  string
	OwnerID   string // the owning user, "" when none
	Realm     string // the account's SIP realm (lowercase)
	Username  string
	Password  string
}
