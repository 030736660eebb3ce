/* Media library: "Copy" buttons next to each Markdown snippet.
 * Without JavaScript the buttons stay hidden and the snippet can be selected by hand. */
(function () {
  "use strict";

  function copyFrom(input) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(input.value);
    }
    input.select();
    return document.execCommand("copy") ? Promise.resolve() : Promise.reject(new Error("copy"));
  }

  function showResult(button, text) {
    var label = button.dataset.label || button.textContent;
    button.dataset.label = label;
    button.textContent = text;
    window.setTimeout(function () { button.textContent = label; }, 2000);
  }

  function enable(button) {
    var input = document.getElementById(button.dataset.copyTarget);
    if (!input) { return; }
    button.hidden = false;
    button.addEventListener("click", function () {
      copyFrom(input).then(
        function () { showResult(button, "Copied"); },
        function () { input.select(); showResult(button, "Press Ctrl+C"); }
      );
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("button[data-copy-target]").forEach(enable);
  });
})();
