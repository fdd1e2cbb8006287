package cli

import (
	"io"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// progressBar is a byte-count bar on stderr, or nothing.
type progressBar struct {
	p   *mpb.Progress
	bar *mpb.Bar
}

// lazyBar is a progress bar whose total is known only once work is
// planned: start makes the bar (once).
type lazyBar struct {
	once sync.Once
	w    io.Writer
	show bool
	name string
	b    atomic.Pointer[progressBar]
}

func (l *lazyBar) start(total int64) {
	l.once.Do(func() { l.b.Store(newProgressBar(l.w, l.show, l.name, total)) })
}

func (l *lazyBar) add(n int64) {
	if b := l.b.Load(); b != nil {
		b.add(n)
	}
}

func (l *lazyBar) done(ok bool) {
	if b := l.b.Load(); b != nil {
		b.done(ok)
	}
}

// newProgressBar starts a bar of total bytes when show is true.
func newProgressBar(w io.Writer, show bool, name string, total int64) *progressBar {
	if !show {
		return &progressBar{}
	}
	p := mpb.New(mpb.WithOutput(w), mpb.WithWidth(40))
	bar := p.AddBar(total,
		mpb.PrependDecorators(decor.Name(name+" "), decor.CountersKibiByte("% .1f / % .1f")),
		mpb.AppendDecorators(decor.EwmaSpeed(decor.SizeB1024(0), "% .1f", 30), decor.Name(" "), decor.Percentage()),
	)
	return &progressBar{p: p, bar: bar}
}

func (b *progressBar) add(n int64) {
	if b.bar != nil {
		b.bar.EwmaIncrInt64(n, 0)
	}
}

// done finishes the bar (aborting it if the job failed) and waits for it.
func (b *progressBar) done(ok bool) {
	if b.p == nil {
		return
	}
	if ok {
		b.bar.SetTotal(-1, true)
	} else {
		b.bar.Abort(false)
	}
	b.p.Wait()
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
