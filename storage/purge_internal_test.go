package storage

import (
	"testing"
	"time"
)

// TestNextBatch: the batch size moves toward what fits in purgeBatchTime, at most doubling
// or halving per step, within its bounds.
func TestNextBatch(t *testing.T) {
	for _, tc := range []struct {
		n    int
		took time.Duration
		want int
	}{
		{500, purgeBatchTime, 500},
		{500, 2 * purgeBatchTime, 250},
		{500, 5 * purgeBatchTime, 250},  // halved at most
		{500, purgeBatchTime / 4, 1000}, // doubled at most
		{500, 0, 1000},
		{60, time.Second, purgeBatchMin},
		{4000, time.Millisecond, purgeBatchMax},
	} {
		if got := nextBatch(tc.n, tc.took); got != tc.want {
			t.Errorf("nextBatch(%d, %s) = %d, want %d", tc.n, tc.took, got, tc.want)
		}
	}
}
