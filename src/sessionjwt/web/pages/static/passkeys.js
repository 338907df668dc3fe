// Passkeys on the pages: the WebAuthn ceremonies behind "Sign in with a passkey", the
// passkey at the sign-in's second step, "Add a passkey" on the Security page and the
// passkey step-up of /reauth. The server sends WebAuthn's JSON options (bytes as base64url)
// and wants the credential back in the same form. Requests carry the pages' form token in
// X-CSRF-Token; the browser adds Sec-Fetch-Site, which the server checks too.
(function () {
  "use strict";
  if (window.sessionjwtPasskeys) {
    return; // included twice on one page
  }
  window.sessionjwtPasskeys = true;

  function toBytes(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    base64 += "===".slice((base64.length + 3) % 4);
    var raw = atob(base64);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i += 1) {
      bytes[i] = raw.charCodeAt(i);
    }
    return bytes.buffer;
  }

  function toText(buffer) {
    var bytes = new Uint8Array(buffer);
    var raw = "";
    for (var i = 0; i < bytes.length; i += 1) {
      raw += String.fromCharCode(bytes[i]);
    }
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map(function (entry) {
      var copy = Object.assign({}, entry);
      copy.id = toBytes(entry.id);
      return copy;
    });
  }

  function creationOptions(json) {
    var options = Object.assign({}, json);
    options.challenge = toBytes(json.challenge);
    options.user = Object.assign({}, json.user, { id: toBytes(json.user.id) });
    options.excludeCredentials = descriptors(json.excludeCredentials);
    return options;
  }

  function requestOptions(json) {
    var options = Object.assign({}, json);
    options.challenge = toBytes(json.challenge);
    options.allowCredentials = descriptors(json.allowCredentials);
    return options;
  }

  function credentialJSON(credential) {
    var response = credential.response;
    var out = {
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: { clientDataJSON: toText(response.clientDataJSON) },
    };
    if (credential.authenticatorAttachment) {
      out.authenticatorAttachment = credential.authenticatorAttachment;
    }
    if (response.attestationObject) {
      out.response.attestationObject = toText(response.attestationObject);
      out.response.transports = response.getTransports ? response.getTransports() : [];
    } else {
      out.response.authenticatorData = toText(response.authenticatorData);
      out.response.signature = toText(response.signature);
      out.response.userHandle = response.userHandle ? toText(response.userHandle) : null;
    }
    return out;
  }

  function send(url, body, csrf) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf || "" },
      body: JSON.stringify(body || {}),
    }).then(function (response) {
      return response.text().then(function (text) {
        var parsed = null;
        try {
          parsed = text ? JSON.parse(text) : null;
        } catch (ignored) {
          parsed = null;
        }
        return { status: response.status, ok: response.ok, body: parsed || {} };
      });
    });
  }

  // A refusal, carried up to the button's handler with the server's code and message.
  function Refused(answer) {
    this.status = answer.status;
    this.code = answer.body.error || "error";
    this.message = answer.body.message || "The request was refused.";
  }

  function expect(answer) {
    if (!answer.ok) {
      throw new Refused(answer);
    }
    return answer.body;
  }

  function browserMessage(error) {
    var name = error && error.name;
    if (name === "NotAllowedError") {
      return "The passkey prompt was closed or timed out. Try again.";
    }
    if (name === "InvalidStateError") {
      return "This device already holds a passkey for your account.";
    }
    if (name === "SecurityError") {
      return "Passkeys need this site opened by its name over HTTPS (or on localhost).";
    }
    return "Your browser could not use a passkey here.";
  }

  function show(error, code, message) {
    if (!error) {
      return;
    }
    error.textContent = message;
    error.setAttribute("data-error", code);
    error.hidden = false;
  }

  // One button (or form) runs one ceremony at a time; refusals are shown beside it.
  function wire(element, eventName, run, onRefused) {
    var error = document.getElementById("passkey-error");
    element.addEventListener(eventName, function (event) {
      event.preventDefault();
      if (!window.PublicKeyCredential || !navigator.credentials) {
        show(error, "unsupported", "This browser does not support passkeys.");
        return;
      }
      var button = element.tagName === "BUTTON" ? element : element.querySelector("button");
      button.disabled = true;
      if (error) {
        error.hidden = true;
      }
      run()
        .catch(function (failure) {
          if (failure instanceof Refused) {
            if (!(onRefused && onRefused(failure))) {
              show(error, failure.code, failure.message);
            }
          } else {
            show(error, "browser", browserMessage(failure));
          }
        })
        .then(function () {
          button.disabled = false;
        });
    });
  }

  function signedInOrReload(failure) {
    if (failure.status === 401 && failure.code.indexOf("token") !== -1) {
      window.location.reload(); // the session's access cookie expired: the load refreshes it
      return true;
    }
    return false;
  }

  function passwordless(button) {
    var csrf = button.getAttribute("data-csrf");
    return send("/auth/passkeys/authentication/options", {}, csrf)
      .then(expect)
      .then(function (ceremony) {
        return navigator.credentials
          .get({ publicKey: requestOptions(ceremony.options) })
          .then(function (credential) {
            return send(
              button.getAttribute("data-action"),
              {
                challenge_token: ceremony.challenge_token,
                credential: credentialJSON(credential),
                next: button.getAttribute("data-next") || "",
              },
              csrf,
            );
          });
      })
      .then(expect)
      .then(function (done) {
        window.location.assign(done.next);
      });
  }

  function secondStep(button) {
    var csrf = button.getAttribute("data-csrf");
    var action = button.getAttribute("data-action");
    return send(action + "/options", {}, csrf)
      .then(expect)
      .then(function (ceremony) {
        return navigator.credentials.get({ publicKey: requestOptions(ceremony.options) });
      })
      .then(function (credential) {
        return send(
          action,
          { credential: credentialJSON(credential), next: button.getAttribute("data-next") || "" },
          csrf,
        );
      })
      .then(expect)
      .then(function (done) {
        window.location.assign(done.next);
      });
  }

  function stepUp(button) {
    var csrf = button.getAttribute("data-csrf");
    return send("/auth/passkeys/step-up/options", {}, csrf)
      .then(expect)
      .then(function (ceremony) {
        return navigator.credentials
          .get({ publicKey: requestOptions(ceremony.options) })
          .then(function (credential) {
            return send(
              "/auth/passkeys/step-up",
              { challenge_token: ceremony.challenge_token, credential: credentialJSON(credential) },
              csrf,
            );
          });
      })
      .then(expect)
      .then(function () {
        window.location.assign(button.getAttribute("data-next") || "/security");
      });
  }

  function addPasskey(form) {
    var csrf = form.getAttribute("data-csrf");
    var name = form.querySelector("input[name=name]").value;
    return send("/auth/passkeys/registration/options", {}, csrf)
      .then(expect)
      .then(function (ceremony) {
        return navigator.credentials
          .create({ publicKey: creationOptions(ceremony.options) })
          .then(function (credential) {
            return send(
              "/auth/passkeys/registration",
              {
                challenge_token: ceremony.challenge_token,
                credential: credentialJSON(credential),
                name: name,
              },
              csrf,
            );
          });
      })
      .then(expect)
      .then(function (done) {
        if (!done.recovery_codes || done.recovery_codes.length === 0) {
          window.location.assign("/security?passkey=added");
          return;
        }
        // Shown once: this answer is the only place they appear.
        var list = document.getElementById("passkey-recovery-codes");
        done.recovery_codes.forEach(function (code) {
          var item = document.createElement("li");
          var text = document.createElement("code");
          text.textContent = code;
          item.appendChild(text);
          list.appendChild(item);
        });
        form.hidden = true;
        document.getElementById("passkey-codes").hidden = false;
      });
  }

  function start() {
    var signIn = document.getElementById("passkey-sign-in");
    if (signIn) {
      wire(signIn, "click", function () {
        return passwordless(signIn);
      });
    }
    var second = document.getElementById("use-passkey");
    if (second) {
      wire(
        second,
        "click",
        function () {
          return secondStep(second);
        },
        function (failure) {
          if (failure.code === "invalid_mfa_token" || failure.code === "account_disabled") {
            window.location.reload(); // the sign-in is over: the page starts it again
            return true;
          }
          return false;
        },
      );
    }
    var stepUpButton = document.getElementById("passkey-step-up");
    if (stepUpButton) {
      wire(
        stepUpButton,
        "click",
        function () {
          return stepUp(stepUpButton);
        },
        signedInOrReload,
      );
    }
    var add = document.getElementById("passkey-add");
    if (add) {
      wire(
        add,
        "submit",
        function () {
          return addPasskey(add);
        },
        function (failure) {
          if (failure.code === "reauthentication_required") {
            window.location.assign("/reauth?next=" + encodeURIComponent("/security#passkeys"));
            return true;
          }
          return signedInOrReload(failure);
        },
      );
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
