// The inbox page, live: the server sends the part below the forms again (server-sent
// events) whenever a message, call, verification or webhook changes. What is open or
// focused in it stays so.
"use strict";
(function () {
  const live = document.getElementById("live");
  if (!live || !window.EventSource) return;
  const source = new EventSource(live.dataset.events);
  source.onmessage = function (event) {
    const open = [...live.querySelectorAll("details[open]")].map((d) => d.id);
    const focused = live.contains(document.activeElement) ? document.activeElement.id : "";
    live.innerHTML = event.data; // HTML the server rendered, every value escaped
    for (const id of open) {
      const details = document.getElementById(id);
      if (details) details.open = true;
    }
    const again = focused && document.getElementById(focused);
    if (again) again.focus();
    document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
  };
})();
