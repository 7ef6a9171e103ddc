/*
 * cnnbook: set-up for the static ipywidgets on pages built by jupyter-book.
 *
 * myst-nb loads this file (nb_ipywidgets_js in _config.yml) on pages that embed widget state,
 * as a plain synchronous <script> BEFORE require.js and @jupyter-widgets/html-manager's
 * embed-amd.js. It does two things:
 *
 * 1. A RequireJS configuration (a global `require` object that require.js picks up when it
 *    loads) mapping the six AMD modules defined inside embed-amd.js to this folder. The bundles
 *    compute their webpack public path from their module URL, so without this they look for
 *    their Font Awesome files relative to the page instead of next to embed-amd.js.
 *
 * 2. A shim for MathJax.Hub.Queue: html-manager 1.x typesets widget labels and HTML with the
 *    MathJax 2 API, which the book's MathJax 3 lacks (calling it would throw). The shim
 *    forwards those calls to MathJax 3's typesetPromise.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  // Absolute URL of the folder holding this file (the build's _static/).
  var base = script.src.slice(0, script.src.lastIndexOf("/") + 1);
  var hm = base + "jupyter-widgets/html-manager/";
  var modules = [
    "@jupyter-widgets/base",
    "@jupyter-widgets/base7",
    "@jupyter-widgets/controls",
    "@jupyter-widgets/controls7",
    "@jupyter-widgets/html-manager",
    "@jupyter-widgets/html-manager/dist/libembed-amd",
  ];
  var paths = {};
  modules.forEach(function (name) {
    paths[name] = hm + name.replace(/\//g, "_").replace(/@/g, "");
  });
  window.require = { paths: paths };

  function installHubShim() {
    var MJ = window.MathJax;
    if (!MJ || MJ.Hub) {
      return;
    }
    MJ.Hub = {
      Queue: function () {
        var nodes = [];
        Array.prototype.forEach.call(arguments, function (job) {
          if (Array.isArray(job) && job[0] === "Typeset" && job[2]) {
            nodes.push(job[2]);
          }
        });
        var mj = window.MathJax;
        if (!nodes.length || !mj || typeof mj.typesetPromise !== "function") {
          return;
        }
        var ready = mj.startup && mj.startup.promise ? mj.startup.promise : Promise.resolve();
        ready
          .then(function () {
            return mj.typesetPromise(nodes);
          })
          .catch(function (err) {
            console.warn("cnnbook: MathJax could not typeset a widget:", err);
          });
      },
    };
  }
  // MathJax 3 (loaded with `defer`) replaces window.MathJax when it runs, so the shim is added
  // afterwards. This listener is registered before embed-amd.js registers its own `load`
  // listener (which renders the widgets), so it runs first.
  window.addEventListener("DOMContentLoaded", installHubShim);
  window.addEventListener("load", installHubShim);
})();
