// Package lru is the bounded least-recently-used cache the file-system
// drivers keep their metadata in (inodes, MFT records, directory indexes,
// extent blocks), so that memory stays bounded whatever the volume holds.
package lru

import (
	"container/list"
	"sync"
)

// Cache holds values up to a total cost (bytes, entries: the caller's
// unit), dropping the least recently used first. It is safe for concurrent
// use.
type Cache[K comparable, V any] struct {
	mu    sync.Mutex
	max   int
	cost  int
	order *list.List // of *entry, front = most recently used
	items map[K]*list.Element
}

type entry[K comparable, V any] struct {
	key  K
	val  V
	cost int
}

// New makes a cache holding values up to a total cost of max.
func New[K comparable, V any](max int) *Cache[K, V] {
	return &Cache[K, V]{max: max, order: list.New(), items: make(map[K]*list.Element)}
}

// Get returns the value cached for k.
func (c *Cache[K, V]) Get(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok {
		c.order.MoveToFront(e)
		return e.Value.(*entry[K, V]).val, true
	}
	var zero V
	return zero, false
}

// Put caches v for k at a cost (at least 1); a value costing more than the
// whole cache is not kept.
func (c *Cache[K, V]) Put(k K, v V, cost int) {
	cost = max(cost, 1)
	if cost > c.max {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok {
		it := e.Value.(*entry[K, V])
		c.cost += cost - it.cost
		it.val, it.cost = v, cost
		c.order.MoveToFront(e)
	} else {
		c.items[k] = c.order.PushFront(&entry[K, V]{key: k, val: v, cost: cost})
		c.cost += cost
	}
	for c.cost > c.max {
		e := c.order.Back()
		it := e.Value.(*entry[K, V])
		c.order.Remove(e)
		delete(c.items, it.key)
		c.cost -= it.cost
	}
}
