package tripsense

import (
	"bytes"
	"encoding/json"
)

// DecodeFanoutJob reads a FanoutJob from its JSON (a queue message's
// body). It refuses unknown fields, trailing data and jobs without a valid
// room, a positive index or connections, with EINVALID.
func DecodeFanoutJob(body []byte) (FanoutJob, error) {
	var j FanoutJob
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return j, Errorf(EINVALID, "fan-out job is not valid JSON: %v", err)
	}
	if dec.More() {
		return j, Errorf(EINVALID, "fan-out job has trailing data")
	}
	if !ValidID(j.Room) || j.Index < 1 || len(j.Conns) == 0 {
		return j, Errorf(EINVALID, "fan-out job needs a valid room, a positive index and connections")
	}
	return j, nil
}
