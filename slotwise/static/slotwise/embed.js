/*
 * Slotwise booking page on your own website, with one line:
 *
 *   <script src="https://<slotwise host>/static/slotwise/embed.js"
 *           data-slotwise-org="adviesgroep" data-slotwise-type="advies" async></script>
 *
 * Optional: data-slotwise-lang="nl" (the page's language; default: the organisation's),
 * data-slotwise-title="…" (the frame's accessible title).
 *
 * The script puts an iframe with /book/<org>/<type>/?embed=1 right after itself and sets the
 * frame's height to the page's height, which the page reports with postMessage (only messages
 * from that frame and the Slotwise origin are trusted).
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !script.src) return;
  var org = script.getAttribute("data-slotwise-org");
  if (!org) return;
  var type = script.getAttribute("data-slotwise-type");
  var lang = script.getAttribute("data-slotwise-lang");
  var origin = new URL(script.src, window.location.href).origin;
  var path = "/book/" + encodeURIComponent(org) + "/" + (type ? encodeURIComponent(type) + "/" : "");
  var url = new URL(path, origin);
  url.searchParams.set("embed", "1");
  if (lang) url.searchParams.set("lang", lang);

  var frame = document.createElement("iframe");
  frame.src = url.toString();
  frame.title = script.getAttribute("data-slotwise-title") || "Booking";
  frame.className = "slotwise-embed";
  frame.setAttribute("data-slotwise-frame", org + (type ? "/" + type : ""));
  frame.style.cssText = "display:block;width:100%;max-width:100%;min-height:320px;height:640px;border:0;";
  script.parentNode.insertBefore(frame, script.nextSibling);

  window.addEventListener("message", function (event) {
    if (event.origin !== origin || event.source !== frame.contentWindow) return;
    var data = event.data;
    if (data && data.slotwise === "resize" && typeof data.height === "number" && data.height > 0) {
      frame.style.height = Math.min(Math.ceil(data.height), 20000) + "px";
    }
  });
})();
