// Moves the reset token from the link's #token= fragment into the "Reset code" field, then
// drops the fragment from the address bar and history. The fragment never reaches a server,
// so the token stays out of access logs and Referer headers.
(function () {
  "use strict";
  function fill() {
    var match = /(?:^#|&)token=([^&]*)/.exec(window.location.hash);
    var input = document.getElementById("token");
    if (!match || !input) {
      return;
    }
    input.value = decodeURIComponent(match[1]);
    history.replaceState(null, "", window.location.pathname + window.location.search);
    var next = document.getElementById("new_password");
    if (next) {
      next.focus();
    }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", fill);
  } else {
    fill();
  }
})();
