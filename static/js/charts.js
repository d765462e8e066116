// Draws every chart on the page from the plotly figure JSON the server rendered
// next to it (<script type="application/json">, which the CSP does not execute),
// and again after htmx swaps a panel in.
(function () {
  "use strict";

  var CONFIG = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["lasso2d", "select2d"] };

  function draw(root) {
    var scope = root || document;
    var nodes = scope.querySelectorAll("[data-chart]");
    for (var i = 0; i < nodes.length; i++) {
      var node = nodes[i];
      var source = document.getElementById(node.getAttribute("data-chart"));
      if (!source || !window.Plotly) { continue; }
      var figure = JSON.parse(source.textContent);
      // A figure may ask for more (a sparkline: no toolbar) on top of the page's config.
      var config = Object.assign({}, CONFIG, figure.config || {});
      window.Plotly.react(node, figure.data || [], figure.layout || {}, config);
      node.setAttribute("data-drawn", "true");
    }
  }

  document.addEventListener("DOMContentLoaded", function () { draw(document); });
  document.addEventListener("htmx:afterSettle", function (event) { draw(event.target); });
  window.opsdashCharts = { draw: draw };
})();
