// "Copy key" on the API keys page: copies the new key to the clipboard. The button stays
// hidden where the Clipboard API is missing (the key is selectable text either way).
(function () {
  "use strict";
  function wire() {
    if (!navigator.clipboard) {
      return;
    }
    document.querySelectorAll("button[data-copy]").forEach(function (button) {
      var target = document.getElementById(button.getAttribute("data-copy"));
      var done = document.querySelector('[data-copied="' + button.getAttribute("data-copy") + '"]');
      if (!target) {
        return;
      }
      button.hidden = false;
      button.addEventListener("click", function () {
        navigator.clipboard.writeText(target.textContent.trim()).then(function () {
          if (done) {
            done.hidden = false;
          }
        });
      });
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", wire);
  } else {
    wire();
  }
})();
