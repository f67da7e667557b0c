package app

// Closers releases a service's resources in the reverse order they were opened: HTTP first
// (by Serve returning), then consumers, connections and pools.
type Closers []func()

// Add registers one release function.
func (c *Closers) Add(f func()) { *c = append(*c, f) }

// Close runs every release function, last added first, and forgets them.
func (c *Closers) Close() {
	for i := len(*c) - 1; i >= 0; i-- {
		(*c)[i]()
	}
	*c = nil
}
