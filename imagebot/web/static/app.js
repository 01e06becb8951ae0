// The only script: "select all" checkboxes. Every page works without it.
document.addEventListener("DOMContentLoaded", function () {
  var all = document.getElementById("select-all");
  if (!all) return;
  all.addEventListener("change", function () {
    document.querySelectorAll('input[name="row"]:not([disabled])').forEach(function (box) {
      if (box.type === "checkbox") box.checked = all.checked;
    });
  });
});
