// mijian console: the only script the pages load (CSP: script-src 'self').
// Progressive: every page works without it. Select-all for bulk triage,
// a confirmation before irreversible actions, and the print button.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("input.select-all").forEach(function (all) {
    all.addEventListener("change", function () {
      var form = all.closest("form");
      if (!form) return;
      form.querySelectorAll('input[type=checkbox][name=key]').forEach(function (b) {
        b.checked = all.checked;
      });
    });
  });
  document.querySelectorAll(".js-confirm").forEach(function (b) {
    b.addEventListener("click", function (e) {
      if (!window.confirm(document.documentElement.lang === "en" ? "Are you sure?" : "确定执行此操作？")) {
        e.preventDefault();
      }
    });
  });
  document.querySelectorAll(".js-print").forEach(function (b) {
    b.addEventListener("click", function () { window.print(); });
  });
});
