// Work done for an element only when it comes near the visible part of its scroll
// container (IntersectionObserver, a margin of about two screens), a few milliseconds per
// frame: a long conversation's answers get their Markdown, highlighting and math as the
// reader scrolls to them, so that opening it or showing earlier messages never renders
// dozens at once in one task.
const jobs = new WeakMap();   // element -> its job, until done
const distance = new WeakMap();   // element -> how far from the viewport it was when it came near
let queue = [], io = null, scheduled = false;
const BUDGET_MS = 8;          // of each frame
const MARGIN = 1400;          // px above and below the visible part: about two screens

function run() {
  scheduled = false;
  const t0 = performance.now();
  while (queue.length && performance.now() - t0 < BUDGET_MS) {
    const el = queue.shift(), fn = jobs.get(el);
    jobs.delete(el);
    if (fn) fn();
  }
  if (queue.length) schedule();
}
function schedule() { if (!scheduled) { scheduled = true; requestAnimationFrame(run); } }

// fn runs once, when el (inside the scroll container root) is near the viewport.
export function whenNear(el, fn, root) {
  if (typeof IntersectionObserver === "undefined") return fn();
  if (!io) {
    io = new IntersectionObserver((es) => {
      for (const e of es) {
        if (!e.isIntersecting || !jobs.has(e.target)) continue;
        io.unobserve(e.target);
        // the ones in view first (the entry's geometry: no layout is forced here)
        const r = e.rootBounds, b = e.boundingClientRect;
        distance.set(e.target, r ? Math.max(0, r.top + MARGIN - b.bottom, b.top - (r.bottom - MARGIN)) : 0);
        queue.push(e.target);
      }
      queue.sort((a, b) => (distance.get(a) || 0) - (distance.get(b) || 0));
      schedule();
    }, { root, rootMargin: `${MARGIN}px 0px` });
  }
  jobs.set(el, fn);
  io.observe(el);
}

// The container was emptied: nothing waits any more.
export function forgetAll() {
  if (io) io.disconnect();
  queue = [];
}
