package tripsense

// DefaultDevice is the device of a client that names none (a connection
// without ?deviceId=, GET /v1/sync without deviceId). It is the empty
// string, which no client can name: an explicit deviceId is a ValidID.
const DefaultDevice = ""

// ParseDeviceID reads the deviceId parameter of a request from its values
// (url.Values["deviceId"], nil when absent): no value is DefaultDevice, one
// value must be a ValidID, and a parameter given more than once is
// ambiguous. It returns an *Error with code EINVALID for anything else.
// Every adapter (ws/local, ws/apigw, api) reads deviceId through it.
func ParseDeviceID(values []string) (string, error) {
	switch {
	case len(values) == 0:
		return DefaultDevice, nil
	case len(values) > 1:
		return "", Errorf(EINVALID, "deviceId may be given once")
	case !ValidID(values[0]):
		return "", Errorf(EINVALID, "deviceId must be 1-%d characters of [A-Za-z0-9_.:@-]", MaxIDLen)
	}
	return values[0], nil
}

// ValidDeviceID reports whether d is DefaultDevice or a ValidID.
func ValidDeviceID(d string) bool { return d == DefaultDevice || ValidID(d) }

// DeviceKey is the one string a store keys the cursors of (user, device)
// under: user itself for DefaultDevice, so that cursors written before
// devices existed are the default device's (no migration), and
// user + "#" + device otherwise. '#' is not an id character, so no device
// key equals a user id or another device's key.
func DeviceKey(user, device string) string {
	if device == DefaultDevice {
		return user
	}
	return user + "#" + device
}

// OfUser reports whether key, a DeviceKey, is one of user's devices (the
// default device's or a named one's). Ids cannot hold '#', so no other
// user's key matches.
func OfUser(key, user string) bool {
	return key == user || (len(key) > len(user) && key[len(user)] == '#' && key[:len(user)] == user)
}
