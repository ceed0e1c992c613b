package idlemem

import (
	"runtime"
	"testing"
)

// TestWatcher walks the decision through a burst, the quiet after it, the runtime's
// periodic collection and the release's own collection.
func TestWatcher(t *testing.T) {
	var n uint64
	releases := 0
	w := watcher{cycles: func() uint64 { return n }, release: func() { releases++; n += 2 }} // runtime.GC may finish one cycle and run another
	steps := []struct {
		name        string
		collections uint64
		want        bool
	}{
		{"idle after start", 0, false},
		{"one periodic collection is no burst", 1, false},
		{"quiet after it", 0, false},
		{"a burst", 12, false},
		{"the burst goes on", 5, false},
		{"quiet: release", 0, true},
		{"quiet again: nothing left to release (the release's collection is not counted)", 0, false},
		{"a periodic collection", 1, false},
		{"quiet", 0, false},
		{"a second burst", 3, false},
		{"released again", 0, true},
	}
	for _, s := range steps {
		n += s.collections
		if got := w.tick(); got != s.want {
			t.Fatalf("%s: released %v, want %v", s.name, got, s.want)
		}
	}
	if releases != 2 {
		t.Fatalf("released %d times, want 2", releases)
	}
}

// TestGCCycles checks that the metric is read: a forced collection advances it.
func TestGCCycles(t *testing.T) {
	before := gcCycles()
	runtime.GC()
	if after := gcCycles(); after <= before {
		t.Fatalf("gc cycles %d then %d after a collection", before, after)
	}
}
