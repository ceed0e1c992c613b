// Conexor's dashboard: copy buttons. Progressive enhancement only: the buttons are hidden
// in the markup and shown here, so without JavaScript nothing is broken, the values are
// simply selected by hand.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("button[data-copy]").forEach(function (btn) {
    var target = document.getElementById(btn.getAttribute("data-copy"));
    if (!target || !navigator.clipboard) {
      return;
    }
    var label = btn.textContent;
    btn.hidden = false;
    btn.setAttribute("aria-label", label + " " + (btn.getAttribute("data-copy") || "").replace(/-/g, " "));
    btn.addEventListener("click", function () {
      navigator.clipboard.writeText(target.textContent.trim()).then(function () {
        btn.textContent = "Copied";
        setTimeout(function () { btn.textContent = label; }, 1500);
      }, function () {
        btn.textContent = "Select and copy";
      });
    });
  });
});
