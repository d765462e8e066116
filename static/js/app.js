// Small behaviours shared by every page.
(function () {
  "use strict";

  // Filter forms send only the fields that are set, so the URL htmx pushes stays short
  // and shareable ("?range=7d&tenant=acme", not "...&route=&model=&prompt=").
  document.addEventListener("htmx:configRequest", function (event) {
    var params = event.detail.parameters;
    if (!params || event.detail.verb !== "get") { return; }
    var keys = typeof params.keys === "function" ? Array.from(params.keys()) : Object.keys(params);
    keys.forEach(function (key) {
      var value = typeof params.get === "function" ? params.get(key) : params[key];
      if (value === "" || value === null || value === undefined) {
        if (typeof params.delete === "function") { params.delete(key); } else { delete params[key]; }
      }
    });
  });
})();
