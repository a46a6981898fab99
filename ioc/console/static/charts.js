// Draws every chart whose data sits in a <script type="application/json"> block, with uPlot, in the
// console's time zone (the <html> element's data-tz) and a 24-hour clock.
(function () {
  "use strict";
  if (!window.uPlot) return;
  var colours = ["#0b4f8a", "#a3121e", "#11663a", "#8a4b00"];
  var root = document.documentElement;
  var lang = root.lang || "vi";
  var tz = root.getAttribute("data-tz") || "Asia/Ho_Chi_Minh";
  var locale = lang === "vi" ? "vi-VN" : "en-GB";
  function fmt(ts) {
    return new Date(ts * 1000).toLocaleString(locale, { hour12: false, timeZone: tz });
  }
  // uPlot's tick formats: [tick step, format, then the extra line at a new year, month, day, hour, ...].
  var ticks = [
    [3600 * 24 * 365, "{YYYY}", null, null, null, null, null, null, 1],
    [3600 * 24 * 28, "{MM}/{YYYY}", "\n{YYYY}", null, null, null, null, null, 1],
    [3600 * 24, "{DD}/{MM}", "\n{YYYY}", null, null, null, null, null, 1],
    [3600, "{HH}:{mm}", "\n{DD}/{MM}", null, "\n{DD}/{MM}", null, null, null, 1],
    [60, "{HH}:{mm}", "\n{DD}/{MM}", null, "\n{DD}/{MM}", null, null, null, 1],
    [1, "{HH}:{mm}:{ss}", "\n{DD}/{MM}", null, "\n{DD}/{MM}", null, null, null, 1]
  ];
  Array.prototype.forEach.call(document.querySelectorAll("[data-chart]"), function (el) {
    var src = document.getElementById(el.getAttribute("data-chart"));
    if (!src) return;
    var d = JSON.parse(src.textContent);
    if (!d.x || !d.x.length) return;
    var series = [{ label: lang === "vi" ? "Thời gian" : "Time", value: function (u, v) { return v == null ? "—" : fmt(v); } }];
    d.y.forEach(function (_, i) {
      series.push({ label: d.names[i] || d.metric, stroke: colours[i % colours.length], width: 2,
        points: { show: d.x.length < 60 } });
    });
    var marks = d.marks || [];
    var opts = {
      width: Math.max(280, el.clientWidth), height: 220, series: series,
      tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1000), tz); },
      scales: { x: { time: true, range: [Math.min(d.start, d.x[0]), Math.max(d.end, d.x[d.x.length - 1])] } },
      axes: [{ stroke: "#333", values: ticks }, { stroke: "#333", size: 60 }],
      hooks: { draw: [function (u) {
        var ctx = u.ctx; ctx.save(); ctx.strokeStyle = "#a3121e"; ctx.setLineDash([6, 4]); ctx.lineWidth = 2;
        marks.forEach(function (m) {
          var x = u.valToPos(m, "x", true);
          ctx.beginPath(); ctx.moveTo(x, u.bbox.top); ctx.lineTo(x, u.bbox.top + u.bbox.height); ctx.stroke();
        });
        ctx.restore();
      }] }
    };
    var plot = new uPlot(opts, [d.x].concat(d.y), el);
    window.addEventListener("resize", function () { plot.setSize({ width: Math.max(280, el.clientWidth), height: 220 }); });
  });
})();
