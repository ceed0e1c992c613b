// Package idlemem hands back to the operating system the heap a burst of requests left
// behind, once the server goes quiet.
//
// Go's runtime keeps the heap a load grew to: garbage until the next collection, which an
// idle server does not run for two minutes, and free pages that the background scavenger
// returns over minutes. After 15 s of token load that is 6-7 MB of a 24 MB anonymous RSS
// (BENCHMARKS.md, "Memory"). One forced collection and scavenge when the load stops
// (debug.FreeOSMemory) returns it within seconds and costs one GC of a small heap.
package idlemem

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// busyCycles is how many collections in one interval make it a burst. One is not enough:
// the runtime forces a collection every two minutes even when idle, and a light steady load
// collects now and then; releasing after those would cost a GC and return little.
const busyCycles = 2

// ReleaseAfterBursts checks every interval whether the garbage collector ran, and after an
// interval with at least busyCycles collections, the first interval without any calls
// debug.FreeOSMemory once. So the memory is back at most two intervals after the last
// collection of a burst. It returns when ctx is done.
func ReleaseAfterBursts(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	w := watcher{release: debug.FreeOSMemory, cycles: gcCycles}
	w.last = w.cycles()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.tick()
		}
	}
}

// watcher is the decision of ReleaseAfterBursts, with the runtime's hooks replaceable.
type watcher struct {
	release func()
	cycles  func() uint64
	last    uint64
	busy    bool
}

// tick is one check: it reports whether it released.
func (w *watcher) tick() bool {
	n := w.cycles()
	ran := n - w.last
	w.last = n
	if ran > 0 {
		w.busy = w.busy || ran >= busyCycles
		return false
	}
	if !w.busy {
		return false
	}
	w.busy = false
	w.release()
	w.last = w.cycles() // the release's own collection is not a burst
	return true
}

// gcCycles reads the number of completed collections, without stopping the world.
func gcCycles() uint64 {
	s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}
