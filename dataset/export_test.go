package dataset

import "github.com/atelier-dev/atelier"

// SetTestHooks sets the test hooks of o: afterBatch runs after each batch an
// import wrote (an error ends the import there, as a crash would), and
// onTaskEnd when a background task ends.
func SetTestHooks(o *Options, afterBatch func(t *atelier.ImportTask) error, onTaskEnd func(id string)) {
	o.afterBatch = afterBatch
	o.onTaskEnd = onTaskEnd
}
