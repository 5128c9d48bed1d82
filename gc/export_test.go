package gc

// SetOnPass sets the hook that runs after each pass of Run.
func SetOnPass(c *Collector, fn func(Result, error)) { c.onPass = fn }
