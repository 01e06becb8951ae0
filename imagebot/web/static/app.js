// The only script: "select all" checkboxes, and live refresh (poll a version token, reload
// when the bot has changed something and the visitor is not in the middle of a selection).
// Every page works without it.
document.addEventListener("DOMContentLoaded", function () {
  var all = document.getElementById("select-all");
  if (!all) return;
  all.addEventListener("change", function () {
    document.querySelectorAll('input[name="row"]:not([disabled])').forEach(function (box) {
      if (box.type === "checkbox") box.checked = all.checked;
    });
  });
});

document.addEventListener("DOMContentLoaded", function () {
  var url = document.body.dataset.live;
  if (!url || !window.fetch) return;
  var seen = null;
  function busy() {
    var active = document.activeElement;
    if (active && (active.tagName === "INPUT" || active.tagName === "SELECT")) return true;
    return document.querySelector('input[name="row"]:checked') !== null;
  }
  function poll() {
    fetch(url, {credentials: "same-origin"}).then(function (r) { return r.json(); })
      .then(function (data) {
        if (seen === null) seen = data.version;
        else if (data.version !== seen && !busy()) window.location.reload();
      }).catch(function () {});
  }
  poll();
  setInterval(poll, 15000);
});
