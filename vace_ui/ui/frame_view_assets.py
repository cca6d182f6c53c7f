"""The frame view's and the timeline's JavaScript (gr.HTML `js_on_load`) and CSS (see frame_view.py)."""

VIEW_JS = r"""
const strokes = {};
// pin: the frame a stroke was begun on. The slider is brought back there, so the view stays on the painted frame;
// while the slider stays there, a view of another frame is a late answer to a slider position from before the
// stroke (the view goes back to the pinned frame next): it does not move the strokes, Keep or the next stroke.
let current = null, shown = null, pin = null;
const TITLES = {
  "edit-keep": "Keep: this frame's mask (with your strokes) becomes a keyframe",
  "edit-invert": "Invert: swap the masked region and the rest of this frame",
  "edit-clear": "Clear this frame: drop its keyframe, strokes and clicks",
  "edit-clear-all": "Clear all: drop every keyframe and tracked mask",
  "edit-track": "Track: carry the keyframes' masks through the whole clip",
};
function titles() {
  for (const [id, title] of Object.entries(TITLES)) {
    const button = document.getElementById(id);
    if (button && button.title !== title) button.title = title;
  }
}
function tool() {
  const checked = document.querySelector("#edit-tool input:checked");
  return checked ? checked.value : "brush";
}
function radius() {
  const field = document.querySelector("#edit-brush input[type=number]");
  const size = field ? Number(field.value) : 24;
  return Math.max(0.5, (size || 24) / 2);
}
function frameSlider() { return document.querySelector("#edit-frame input[type=range]"); }
function sliderFrame() {
  const field = frameSlider();
  return field ? Number(field.value) : null;
}
function moveSlider(frame) {
  const field = frameSlider();
  if (!field || Number(field.value) === frame) return;
  Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, "value").set.call(field, String(frame));
  field.dispatchEvent(new Event("input", {bubbles: true}));
  field.dispatchEvent(new Event("change", {bubbles: true}));
}
function root() { return element.querySelector(".vfv[data-index]"); }
function setBox(id, text) {
  const box = document.querySelector("#" + id + " textarea") || document.querySelector("#" + id + " input");
  if (!box) return;
  const proto = box.tagName === "TEXTAREA" ? HTMLTextAreaElement.prototype : HTMLInputElement.prototype;
  Object.getOwnPropertyDescriptor(proto, "value").set.call(box, text);
  box.dispatchEvent(new Event("input", {bubbles: true}));
}
function publish() { setBox("edit-strokes", JSON.stringify({shown: shown, frames: strokes})); }
function redraw() {
  const view = root();
  const canvas = view && view.querySelector("canvas.vfv-strokes");
  if (!canvas) return;
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  for (const s of (strokes[shown] || [])) {
    ctx.strokeStyle = ctx.fillStyle = s.erase ? "rgba(239,68,68,0.8)" : "rgba(255,255,255,0.8)";
    ctx.lineWidth = 2 * s.r; ctx.lineCap = "round"; ctx.lineJoin = "round";
    ctx.beginPath();
    if (s.p.length === 1) { ctx.arc(s.p[0][0], s.p[0][1], s.r, 0, 2 * Math.PI); ctx.fill(); continue; }
    s.p.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
    ctx.stroke();
  }
}
function sync() {
  titles();
  const view = root();
  if (!view) { shown = pin = null; delete element.dataset.shown; return; }
  for (const frame of (view.dataset.clear || "").split(",").filter(Boolean)) delete strokes[frame];
  const index = Number(view.dataset.index);
  if (pin !== null && sliderFrame() !== pin) pin = null;  // the slider was moved on since the stroke
  if (pin === null || index === pin) shown = index;
  element.dataset.shown = String(shown);
  element.dataset.late = String(index !== shown);
  redraw();
  publish();
}
function point(ev) {
  const canvas = root().querySelector("canvas.vfv-strokes");
  const box = canvas.getBoundingClientRect();
  const x = (ev.clientX - box.left) * canvas.width / box.width;
  const y = (ev.clientY - box.top) * canvas.height / box.height;
  return [Math.round(x * 10) / 10, Math.round(y * 10) / 10];
}
element.addEventListener("pointerdown", (ev) => {
  if (!ev.target.classList || !ev.target.classList.contains("vfv-strokes") || shown === null) return;
  ev.preventDefault();
  const kind = tool();
  if (kind === "add" || kind === "remove") {
    const [x, y] = point(ev);
    setBox("edit-pointer", JSON.stringify({frame: shown, x: x, y: y, add: kind === "add", n: Date.now()}));
    return;
  }
  ev.target.setPointerCapture(ev.pointerId);
  pin = shown;  // the view may still be catching up with the slider: it stays on the frame painted on
  moveSlider(shown);
  current = {erase: kind === "erase", r: radius(), p: [point(ev)]};
  (strokes[shown] = strokes[shown] || []).push(current);
  redraw();
});
element.addEventListener("pointermove", (ev) => {
  if (!current) return;
  current.p.push(point(ev));
  redraw();
});
const finish = () => { if (current) { current = null; publish(); } };
element.addEventListener("pointerup", finish);
element.addEventListener("pointercancel", finish);
watch("value", sync);
sync();
setTimeout(titles, 1500);
"""

TIMELINE_JS = r"""
element.addEventListener("click", (ev) => {
  const strip = element.querySelector(".vtl[data-count]");
  if (!strip) return;
  const count = Number(strip.dataset.count);
  const mark = ev.target.closest(".vtl-key");
  const box = strip.getBoundingClientRect();
  let frame = mark ? Number(mark.dataset.frame) : Math.round((ev.clientX - box.left) / box.width * (count - 1));
  frame = Math.max(0, Math.min(count - 1, frame));
  const field = document.querySelector("#edit-jump textarea") || document.querySelector("#edit-jump input");
  if (!field) return;
  const proto = field.tagName === "TEXTAREA" ? HTMLTextAreaElement.prototype : HTMLInputElement.prototype;
  Object.getOwnPropertyDescriptor(proto, "value").set.call(field, JSON.stringify({frame: frame, n: Date.now()}));
  field.dispatchEvent(new Event("input", {bubbles: true}));
});
"""

VIEW_CSS = """
.vfv { text-align: center; }
.vfv-empty { padding: 48px 12px; opacity: .7; border: 1px dashed rgba(127,127,127,.5); border-radius: 8px; }
.vfv-stage { position: relative; display: inline-block; max-width: 100%; line-height: 0; }
.vfv-frame { display: block; max-width: 100%; max-height: 440px; min-height: min(300px, 50vw); object-fit: contain; }
.vfv-mask, .vfv-strokes { position: absolute; left: 0; top: 0; width: 100%; height: 100%; }
.vfv-mask { pointer-events: none; image-rendering: pixelated; }
.vfv-strokes { cursor: crosshair; touch-action: none; }
.vfv-caption { font-size: 12px; opacity: .8; line-height: 1.4; margin-top: 4px; }
"""

TIMELINE_CSS = """
.vtl { position: relative; user-select: none; cursor: pointer; }
.vtl-empty { font-size: 12px; opacity: .7; cursor: default; }
.vtl-thumbs { display: flex; gap: 1px; height: 40px; overflow: hidden; border-radius: 4px; }
.vtl-thumb { flex: 1 1 0; min-width: 0; height: 40px; object-fit: cover; }
.vtl-track { position: relative; height: 18px; margin-top: 2px; background: rgba(127,127,127,.15);
  border-radius: 3px; }
.vtl-tracked { position: absolute; top: 6px; height: 6px; min-width: 3px; background: rgb(59,130,246); }
.vtl-key { position: absolute; top: 1px; width: 12px; height: 16px; margin-left: -6px; padding: 0;
  background: rgb(34,197,94); border: 1px solid #fff; border-radius: 3px; cursor: pointer; }
.vtl-cursor { position: absolute; top: -44px; bottom: 0; width: 2px; margin-left: -1px; background: #ef4444;
  pointer-events: none; }
.vtl-progress { height: 4px; margin-top: 2px; background: rgba(127,127,127,.2); }
.vtl-progress > div { height: 100%; background: rgb(59,130,246); }
.vtl-status { font-size: 12px; opacity: .8; }
"""
