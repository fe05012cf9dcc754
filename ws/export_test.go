package ws

import "time"

// SetAfterFunc replaces time.AfterFunc for the receipt windows of s.
func SetAfterFunc(s *Service, f func(time.Duration, func())) { s.afterFunc = f }
