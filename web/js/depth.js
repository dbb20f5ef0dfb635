// A small cumulative depth chart (bids left, asks right of the mid price) on a canvas,
// drawn from the same local book the book panel shows (market.js).  Amounts stay exact
// (BigInt units) until they become pixels; no chart library needed for two step lines.
import { fmt, toStr, units } from './dec.js';
import { h } from './ui.js';

const HEIGHT = 80;   // css px (app.css .depth-chart)

/** Cumulative bid and ask depth around the mid price, drawn on a canvas.  `draw({bids,
 *  asks})` takes the book as LocalBook.top() gives it; the element carries what it
 *  drew (data-bids/data-asks: levels, data-bid-total/data-ask-total: amounts). */
export class DepthChart {
  constructor(info) {
    this.info = info;
    this.canvas = h('canvas', { height: HEIGHT });
    this.el = h('div.depth-chart', { role: 'img', 'data-testid': 'depth-chart',
                                     'aria-label': `Depth chart of ${info.label}: no orders` }, this.canvas);
    // the canvas' pixels follow its box (a phone turned, a window resized)
    this.resize = new ResizeObserver(() => this.painted && this.paint(...this.painted));
    this.resize.observe(this.el);
  }

  draw({ bids, asks }) {
    const cum = (levels) => {
      let acc = 0n;
      return levels.map(([p, q]) => {
        acc += units(q);
        return [units(p), acc];
      });
    };
    const b = cum(bids);
    const a = cum(asks);
    const bidTotal = b.length ? b[b.length - 1][1] : 0n;
    const askTotal = a.length ? a[a.length - 1][1] : 0n;
    const { el } = this;
    el.dataset.bids = String(b.length);
    el.dataset.asks = String(a.length);
    el.dataset.bidTotal = toStr(bidTotal);
    el.dataset.askTotal = toStr(askTotal);
    const { base, priceDp, qtyDp, label } = this.info;
    el.setAttribute('aria-label', `Depth chart of ${label}: ${fmt(toStr(bidTotal), qtyDp)} ${base} bid`
      + (b.length ? ` down to ${fmt(toStr(b[b.length - 1][0]), priceDp)}` : '')
      + `, ${fmt(toStr(askTotal), qtyDp)} ${base} asked` + (a.length ? ` up to ${fmt(toStr(a[a.length - 1][0]), priceDp)}` : ''));
    this.painted = [b, a];
    this.paint(b, a);
  }

  paint(b, a) {
    const { canvas } = this;
    const width = canvas.parentElement?.clientWidth || 280;
    const height = HEIGHT;
    const ratio = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(width * ratio)) {
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
      canvas.style.height = `${height}px`;
    }
    const ctx = canvas.getContext('2d');
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    if (!b.length && !a.length) return;
    // the price range: symmetric around the mid when both sides are there
    const n = (u) => Number(u) / 1e8;
    const bestBid = b.length ? n(b[0][0]) : null;
    const bestAsk = a.length ? n(a[0][0]) : null;
    const mid = bestBid !== null && bestAsk !== null ? (bestBid + bestAsk) / 2 : (bestBid ?? bestAsk);
    const reachBid = b.length ? mid - n(b[b.length - 1][0]) : 0;
    const reachAsk = a.length ? n(a[a.length - 1][0]) - mid : 0;
    const span = Math.max(Math.min(reachBid || reachAsk, reachAsk || reachBid), mid * 0.0005, 1e-8);
    const lo = mid - span;
    const hi = mid + span;
    const inRange = (pts) => pts.filter(([p]) => n(p) >= lo && n(p) <= hi);
    const bb = inRange(b);
    const aa = inRange(a);
    const maxQ = Math.max(...[...bb, ...aa].map(([, q]) => n(q)), 1e-8);
    const pad = 2;
    const x = (p) => ((p - lo) / (hi - lo)) * width;
    const y = (q) => height - pad - (q / maxQ) * (height - 2 * pad);
    const side = (pts, edge, stroke, fillStyle) => {
      if (!pts.length) return;
      ctx.beginPath();
      ctx.moveTo(x(n(pts[0][0])), height);
      let prev = 0;
      for (const [p, q] of pts) {
        ctx.lineTo(x(n(p)), y(prev));
        ctx.lineTo(x(n(p)), y(n(q)));
        prev = n(q);
      }
      ctx.lineTo(edge, y(prev));
      ctx.lineTo(edge, height);
      ctx.closePath();
      ctx.fillStyle = fillStyle;
      ctx.fill();
      ctx.strokeStyle = stroke;
      ctx.lineWidth = 1.5;
      ctx.stroke();
    };
    side(bb, 0, '#0ecb81', 'rgba(14,203,129,0.18)');
    side(aa, width, '#f6465d', 'rgba(246,70,93,0.18)');
    ctx.strokeStyle = 'rgba(127,135,150,0.4)';
    ctx.setLineDash([3, 3]);
    ctx.beginPath();
    ctx.moveTo(x(mid), 0);
    ctx.lineTo(x(mid), height);
    ctx.stroke();
    ctx.setLineDash([]);
  }
}
