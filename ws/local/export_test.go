package local

// SetAfterWrite makes the writers of s run f after each written batch,
// before the batch's deliveries are recorded.
func SetAfterWrite(s *Server, f func()) { s.afterWrite = f }
