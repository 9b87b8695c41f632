package devstack

// OnOutcomePublished calls f each time s has recorded an execution's outcome
// and woken its waiters.
func (s *Server) OnOutcomePublished(f func(project, execID string)) { s.execs.published.Store(&f) }
