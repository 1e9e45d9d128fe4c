// Live progress of a send on the edition page: asks progress.json about once a second and updates the
// numbers and which of Pause / Resume / Cancel show. No inline script anywhere: the CSP stays strict.
"use strict";
(function () {
  var box = document.querySelector("[data-progress]");
  if (!box) { return; }
  var url = box.getAttribute("data-progress");
  var bar = box.querySelector("progress");
  function set(name, value) {
    var el = box.querySelector('[data-field="' + name + '"]');
    if (el && el.textContent !== String(value)) { el.textContent = String(value); }
  }
  function show(data) {
    set("status", data.status);
    set("running-note", data.running ? " · a send is running" : "");
    set("done", data.done);
    set("total", data.total);
    set("rate", data.rate);
    Object.keys(data.counts).forEach(function (name) { set(name, data.counts[name]); });
    if (bar) { bar.max = Math.max(data.total, 1); bar.value = data.done; bar.textContent = data.done + " of " + data.total; }
    box.querySelectorAll("[data-when]").forEach(function (form) { form.hidden = !data[form.getAttribute("data-when")]; });
  }
  function tick() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); })
      .then(function (data) {
        show(data);
        var settled = (data.status === "sent" || data.status === "cancelled") && !data.running;
        window.setTimeout(tick, settled ? 10000 : 1000);
      })
      .catch(function () { window.setTimeout(tick, 5000); });
  }
  window.setTimeout(tick, 1000);
})();
