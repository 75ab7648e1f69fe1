// A line chart of one symbol's prices on a canvas: the mid of each quote, with trades as dots.
// Drawn only when asked (once per animation frame at most), never per message.

export const MAX_POINTS = 600;

export class Series {
  constructor() {
    this.points = []; // {t, mid, trade}
  }

  push(point) {
    this.points.push(point);
    if (this.points.length > MAX_POINTS) this.points.splice(0, this.points.length - MAX_POINTS);
  }

  clear() {
    this.points.length = 0;
  }
}

function css(name, fallback) {
  const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return value || fallback;
}

// Draws `series` on `canvas`; returns the price range shown, or null with no data.
export function draw(canvas, series) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || canvas.width;
  const height = canvas.clientHeight || canvas.height;
  if (canvas.width !== Math.round(width * ratio)) canvas.width = Math.round(width * ratio);
  if (canvas.height !== Math.round(height * ratio)) canvas.height = Math.round(height * ratio);
  const g = canvas.getContext('2d');
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.clearRect(0, 0, width, height);
  const points = series.points;
  if (points.length === 0) {
    g.fillStyle = css('--muted', '#888');
    g.font = '13px sans-serif';
    g.fillText('waiting for quotes…', 12, 24);
    return null;
  }
  let lo = Infinity;
  let hi = -Infinity;
  for (const p of points) {
    const v = p.trade ?? p.mid;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (hi - lo < 1e-9) {
    hi += 0.5;
    lo -= 0.5;
  }
  const pad = { left: 8, right: 64, top: 10, bottom: 10 };
  const w = width - pad.left - pad.right;
  const h = height - pad.top - pad.bottom;
  const t0 = points[0].t;
  const span = Math.max(1, points[points.length - 1].t - t0);
  const x = (t) => pad.left + ((t - t0) / span) * w;
  const y = (v) => pad.top + (1 - (v - lo) / (hi - lo)) * h;

  g.strokeStyle = css('--grid', '#333');
  g.lineWidth = 1;
  g.fillStyle = css('--muted', '#888');
  g.font = '11px ui-monospace, monospace';
  for (let i = 0; i <= 4; i++) {
    const v = lo + ((hi - lo) * i) / 4;
    const yy = Math.round(y(v)) + 0.5;
    g.beginPath();
    g.moveTo(pad.left, yy);
    g.lineTo(pad.left + w, yy);
    g.stroke();
    g.fillText(v.toFixed(v < 10 ? 4 : 2), pad.left + w + 6, yy + 4);
  }

  g.strokeStyle = css('--line', '#4aa3ff');
  g.lineWidth = 1.5;
  g.beginPath();
  let started = false;
  for (const p of points) {
    if (p.mid === undefined) continue;
    if (started) g.lineTo(x(p.t), y(p.mid));
    else g.moveTo(x(p.t), y(p.mid));
    started = true;
  }
  g.stroke();

  g.fillStyle = css('--trade', '#ffb020');
  for (const p of points) {
    if (p.trade === undefined) continue;
    g.beginPath();
    g.arc(x(p.t), y(p.trade), 2.2, 0, Math.PI * 2);
    g.fill();
  }
  return { lo, hi };
}
