// ferry's status page: a refresh a person can pause (remembered in this browser), and
// relative times ("3 min ago") kept current, the exact time in each one's tooltip.
(function () {
  "use strict";
  var KEY = "ferry.refresh.paused";
  var memory = null;
  var body = document.body;
  var seconds = parseInt(body.getAttribute("data-refresh"), 10) || 30;
  var button = document.getElementById("refresh-toggle");
  var label = document.getElementById("refresh-state");
  var timer = null;

  function paused() {
    try {
      return window.localStorage.getItem(KEY) === "1";
    } catch (e) {
      return memory === "1";
    }
  }

  function setPaused(on) {
    var value = on ? "1" : "0";
    try {
      window.localStorage.setItem(KEY, value);
    } catch (e) {
      memory = value;
    }
  }

  function schedule() {
    if (timer !== null) {
      window.clearTimeout(timer);
      timer = null;
    }
    var p = paused();
    body.setAttribute("data-refresh-paused", p ? "true" : "false");
    if (button) {
      button.textContent = p ? "Resume auto-refresh" : "Pause auto-refresh";
      button.setAttribute("aria-pressed", p ? "true" : "false");
    }
    if (label) {
      label.textContent = p ? "Auto-refresh paused" : "Refreshes every " + seconds + " s";
    }
    if (!p) {
      timer = window.setTimeout(function () {
        window.location.reload();
      }, seconds * 1000);
    }
  }

  function span(s) {
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min";
    if (s < 86400) return Math.floor(s / 3600) + " h";
    return Math.floor(s / 86400) + " d";
  }

  function ago(then, now) {
    var s = Math.round((now - then) / 1000);
    if (s <= -10) return "in " + span(-s);
    if (s < 10) return "just now";
    return span(s) + " ago";
  }

  function tick() {
    var now = Date.now();
    var times = document.querySelectorAll("time[datetime]");
    for (var i = 0; i < times.length; i++) {
      var then = Date.parse(times[i].getAttribute("datetime"));
      if (!isNaN(then)) times[i].textContent = ago(then, now);
    }
  }

  if (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      setPaused(!paused());
      schedule();
    });
  }
  schedule();
  tick();
  window.setInterval(tick, 10000);
})();
