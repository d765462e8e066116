// Small behaviours shared by every page.
(function () {
  "use strict";

  // Filter forms send only the fields that are set, so the URL htmx pushes stays short
  // and shareable ("?range=7d&tenant=acme", not "...&route=&model=&prompt=").
  document.addEventListener("htmx:configRequest", function (event) {
    var params = event.detail.parameters;
    if (!params || event.detail.verb !== "get") { return; }
    var keys = typeof params.keys === "function" ? Array.from(params.keys()) : Object.keys(params);
    var range = typeof params.get === "function" ? params.get("range") : params.range;
    keys.forEach(function (key) {
      var value = typeof params.get === "function" ? params.get(key) : params[key];
      // From and To always hold the window on show; they mean something with "Custom" only.
      var unused = (key === "from" || key === "to") && range !== undefined && range !== null && range !== "custom";
      if (unused || value === "" || value === null || value === undefined) {
        if (typeof params.delete === "function") { params.delete(key); } else { delete params[key]; }
      }
    });
  });
})();

// An htmx answer that is not a success never replaces the page: the user keeps the filter
// bar, the navigation and the last panels they saw.
(function () {
  "use strict";

  function showError(target, text) {
    if (!target) { return; }
    var box = target.querySelector("[data-htmx-error]");
    if (!box) {
      box = document.createElement("div");
      box.className = "error-panel";
      box.setAttribute("role", "alert");
      box.setAttribute("data-htmx-error", "");
      target.insertBefore(box, target.firstChild);
    }
    box.textContent = text;
  }

  document.addEventListener("htmx:beforeSwap", function (event) {
    var detail = event.detail;
    var xhr = detail.xhr;
    if (!xhr || xhr.status < 400) { return; }
    var target = detail.target;
    // A dashboard answers a filter it cannot use with a 400 that is its panels, the reason
    // inside them, and the filter bar out of band: shown as any other answer.
    if (target && target.id && xhr.status < 500 &&
        (xhr.responseText || "").indexOf('id="' + target.id + '"') !== -1) {
      detail.shouldSwap = true;
      detail.isError = false;
      return;
    }
    // Anything else (a page of its own: 403, 404, 500) is summed up inside the target.
    detail.shouldSwap = false;
    var reason = xhr.status === 404 ? "not found (it may have been removed, or be outside your tenants)"
      : xhr.status === 403 ? "not allowed for your role"
      : xhr.status >= 500 ? "the server failed to answer; try again, or reload the page"
      : "refused (" + (xhr.statusText || "bad request") + ")";
    showError(target, "This view could not be shown (HTTP " + xhr.status + "): " + reason + ". " +
      "What is below is still the previous view.");
  });

  document.addEventListener("htmx:sendError", function (event) {
    showError(event.detail.target, "The server could not be reached; what is below is the previous view.");
  });
})();
