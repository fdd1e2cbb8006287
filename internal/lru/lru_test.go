package lru

import (
	"fmt"
	"sync"
	"testing"
)

func TestEvictsLeastRecentlyUsedByCost(t *testing.T) {
	c := New[string, int](10)
	c.Put("a", 1, 4)
	c.Put("b", 2, 4)
	c.Get("a") // b is now the oldest
	c.Put("c", 3, 4)
	if _, ok := c.Get("b"); ok {
		t.Error("b should have been evicted")
	}
	for _, k := range []string{"a", "c"} {
		if _, ok := c.Get(k); !ok {
			t.Errorf("%s evicted", k)
		}
	}
	c.Put("huge", 9, 11)
	if _, ok := c.Get("huge"); ok {
		t.Error("a value dearer than the cache was kept")
	}
	c.Put("a", 5, 6) // re-cost an entry: c (4) + a (6) fit
	if v, _ := c.Get("a"); v != 5 {
		t.Errorf("a = %d", v)
	}
	if c.cost != 10 {
		t.Errorf("cost %d, want 10", c.cost)
	}
}

func TestConcurrentUse(t *testing.T) {
	c := New[int, int](100)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				c.Put(i%150, g, 1)
				c.Get((i * 7) % 150)
			}
		}()
	}
	wg.Wait()
	if c.cost > 100 || c.order.Len() != len(c.items) {
		t.Errorf("cost %d, %d in order, %d in map", c.cost, c.order.Len(), len(c.items))
	}
}

func Example() {
	c := New[uint64, []byte](1 << 20) // one MiB of blocks
	c.Put(7, make([]byte, 4096), 4096)
	b, ok := c.Get(7)
	fmt.Println(len(b), ok)
	// Output: 4096 true
}
