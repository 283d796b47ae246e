// Relais console: optional enhancements only. Every page works without
// this file; it holds no data and stores nothing in the browser.
(function () {
  "use strict";
  // A form is sent once: a second click on a slow link would otherwise
  // post it twice.
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (form.dataset.sent === "1") { ev.preventDefault(); return; }
    form.dataset.sent = "1";
    window.setTimeout(function () { form.dataset.sent = ""; }, 8000);
  });
  // Buttons that ask for confirmation (decline, replay) say what they do.
  document.addEventListener("click", function (ev) {
    var b = ev.target.closest ? ev.target.closest("button[data-confirm]") : null;
    if (b && !window.confirm(b.dataset.confirm)) { ev.preventDefault(); }
  });
  // The consent section shows the fields of the chosen basis only.
  function basisChanged() {
    var chosen = document.querySelector("input[name='consent.basis']:checked");
    document.querySelectorAll("[data-basis]").forEach(function (el) {
      el.hidden = chosen ? el.dataset.basis !== chosen.value : false;
    });
  }
  document.addEventListener("change", function (ev) {
    if (ev.target.name === "consent.basis") { basisChanged(); }
  });
  document.addEventListener("DOMContentLoaded", basisChanged);
})();
