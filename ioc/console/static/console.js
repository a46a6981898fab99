// The current page's menu entry in view (the phone's menu scrolls sideways).
(function () {
  "use strict";
  var current = document.querySelector(".nav [aria-current]");
  var bar = current && current.closest("ul");
  if (bar && bar.scrollWidth > bar.clientWidth) {
    bar.scrollLeft = current.offsetLeft - (bar.clientWidth - current.offsetWidth) / 2;
  }
})();

// Live regions: a block with data-refresh="N" is fetched again every N seconds and swapped in place,
// unless the user is typing in a form or the tab is hidden. No framework; pages work without it.
(function () {
  "use strict";
  var live = document.querySelector("[data-refresh]");
  if (!live || !window.fetch || !window.DOMParser) return;
  var seconds = Math.max(10, parseInt(live.getAttribute("data-refresh"), 10) || 30);
  function busy() {
    var a = document.activeElement;
    return document.hidden || (a && /^(INPUT|TEXTAREA|SELECT)$/.test(a.tagName));
  }
  function refresh() {
    if (busy()) return;
    fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok && !r.redirected ? r.text() : null; })
      .then(function (html) {
        if (!html) return;
        var fresh = new DOMParser().parseFromString(html, "text/html").querySelector("[data-refresh]");
        if (!fresh) return;
        // Keep open <details> open across the swap.
        var open = Array.prototype.map.call(live.querySelectorAll("details[open] summary"), function (s) { return s.textContent; });
        live.innerHTML = fresh.innerHTML;
        Array.prototype.forEach.call(live.querySelectorAll("details summary"), function (s) {
          if (open.indexOf(s.textContent) >= 0) s.parentNode.open = true;
        });
      })
      .catch(function () { /* offline for a moment: try again next time */ });
  }
  window.setInterval(refresh, seconds * 1000);
})();
