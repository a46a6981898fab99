// Draws every chart whose data sits in a <script type="application/json"> block, with uPlot.
(function () {
  "use strict";
  if (!window.uPlot) return;
  var colours = ["#0b4f8a", "#a3121e", "#11663a", "#8a4b00"];
  var lang = document.documentElement.lang || "vi";
  function fmt(ts) {
    return new Date(ts * 1000).toLocaleString(lang === "vi" ? "vi-VN" : "en-GB", { hour12: false });
  }
  Array.prototype.forEach.call(document.querySelectorAll("[data-chart]"), function (el) {
    var src = document.getElementById(el.getAttribute("data-chart"));
    if (!src) return;
    var d = JSON.parse(src.textContent);
    if (!d.x || !d.x.length) return;
    var series = [{ value: function (u, v) { return v == null ? "" : fmt(v); } }];
    d.y.forEach(function (_, i) {
      series.push({ label: d.names[i] || d.metric, stroke: colours[i % colours.length], width: 2, spanGaps: false,
        points: { show: d.x.length < 60 } });
    });
    var marks = d.marks || [];
    var opts = {
      width: Math.max(280, el.clientWidth), height: 220, series: series,
      scales: { x: { time: true, range: [Math.min(d.start, d.x[0]), Math.max(d.end, d.x[d.x.length - 1])] } },
      axes: [{ stroke: "#333" }, { stroke: "#333", size: 60 }],
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
