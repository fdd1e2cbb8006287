package xfs

import (
	"container/list"
	"sync"
)

// lru is a small least-recently-used cache bounded by the total cost of
// its values; it is safe for concurrent use.
type lru[K comparable, V any] struct {
	mu    sync.Mutex
	max   int
	cost  int
	ll    *list.List
	items map[K]*list.Element
}

type lruItem[K comparable, V any] struct {
	key  K
	val  V
	cost int
}

func newLRU[K comparable, V any](max int) *lru[K, V] {
	return &lru[K, V]{max: max, ll: list.New(), items: make(map[K]*list.Element)}
}

func (c *lru[K, V]) get(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok {
		c.ll.MoveToFront(e)
		return e.Value.(*lruItem[K, V]).val, true
	}
	var zero V
	return zero, false
}

// put adds k with a cost (at least 1); values costing more than the whole
// cache are not kept.
func (c *lru[K, V]) put(k K, v V, cost int) {
	if cost < 1 {
		cost = 1
	}
	if cost > c.max {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok {
		it := e.Value.(*lruItem[K, V])
		c.cost -= it.cost
		it.val, it.cost = v, cost
		c.cost += cost
		c.ll.MoveToFront(e)
	} else {
		c.items[k] = c.ll.PushFront(&lruItem[K, V]{key: k, val: v, cost: cost})
		c.cost += cost
	}
	for c.cost > c.max {
		e := c.ll.Back()
		it := e.Value.(*lruItem[K, V])
		c.ll.Remove(e)
		delete(c.items, it.key)
		c.cost -= it.cost
	}
}
