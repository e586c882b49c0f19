// The static site's audit filter (powerx site build): filters the audit trail in the
// browser by plugin, environment, operator, action and date, as the console's /audit does
// on the server. With JavaScript off the paged trail is shown as it is.
//
// Over http(s) it reads every entry from audit.json and shows the matching ones of the
// whole trail; where that file cannot be read (file:// pages) it filters the rows of the
// page shown. Filters come from the form (form.filters) and from the page's query string
// (audit.html?plugin=a, the links of the other pages), and are kept in the address.
//
// DOM hooks: script[data-site-root]; form.filters input[name=plugin|environment|operator|
// action|since|until]; #trail tbody tr (one per entry, id = commit; hidden ones carry
// `hidden`); #site-audit-status (made here), data-scope "trail" or "page" once ready,
// data-matches = the number of matching entries; the pager (#trail a[rel]) hidden
// while a filter is on.
(function () {
  "use strict";
  var FIELDS = ["plugin", "environment", "operator", "action", "since", "until"];
  var script = document.currentScript;
  var root = (script && script.getAttribute("data-site-root")) || "./";

  function start() {
    var form = document.querySelector("form.filters");
    var trail = document.getElementById("trail");
    var body = trail && trail.querySelector("tbody");
    if (!form || !body) {
      return;
    }
    var pageRows = Array.prototype.slice.call(body.rows);
    var pagers = Array.prototype.slice.call(trail.querySelectorAll("a[rel]")).map(function (a) {
      return a.parentNode;
    });
    var status = document.createElement("p");
    status.id = "site-audit-status";
    status.setAttribute("role", "status");
    trail.insertBefore(status, trail.firstChild);
    var entries = null;

    function filters() {
      var values = {};
      FIELDS.forEach(function (name) {
        var input = form.elements.namedItem(name);
        var value = input && input.value ? input.value.trim() : "";
        if (value) {
          values[name] = value;
        }
      });
      return values;
    }

    function matches(entry, values) {
      var day = (entry.time || "").slice(0, 10);
      var plugin = values.plugin;
      if (plugin && entry.plugin !== plugin && !listsPlugin(entry, plugin)) {
        return false;
      }
      if (values.environment && entry.environment !== values.environment) {
        return false;
      }
      if (values.operator && entry.operator !== values.operator) {
        return false;
      }
      if (values.action && entry.action !== values.action) {
        return false;
      }
      if (values.since && day < values.since) {
        return false;
      }
      return !(values.until && day > values.until);
    }

    function listsPlugin(entry, plugin) {
      // an offline import names every plugin@version it deployed in its version
      if (entry.plugin || !entry.version) {
        return false;
      }
      return entry.version.split(",").some(function (part) {
        return part.trim().indexOf(plugin + "@") === 0;
      });
    }

    function rowEntry(row) {
      // the entry a rendered row shows (Time, Action, Plugin, Version, Environment,
      // Operator, Summary, Commit), for the page-only filter
      var cells = row.cells;
      if (cells.length < 8) {
        return null;
      }
      var text = function (i) {
        return cells[i].textContent.trim() || null;
      };
      return {
        time: text(0),
        action: text(1),
        plugin: text(2),
        version: text(3),
        environment: text(4),
        operator: text(5),
      };
    }

    function cell(row, text) {
      var td = document.createElement("td");
      td.textContent = text || "";
      row.appendChild(td);
      return td;
    }

    function entryRow(entry) {
      var row = document.createElement("tr");
      row.id = entry.commit;
      if (entry.manual) {
        row.className = "manual";
      }
      cell(row, entry.time.slice(0, 19).replace("T", " "));
      [entry.action, entry.plugin, entry.version, entry.environment].forEach(function (v) {
        cell(row, v);
      });
      cell(row, entry.operator || entry.author);
      cell(row, entry.summary);
      var link = document.createElement("a");
      link.href = root + "audit/" + entry.commit + ".html";
      var code = document.createElement("code");
      code.textContent = entry.short;
      link.appendChild(code);
      cell(row, "").appendChild(link);
      return row;
    }

    function show(rows) {
      while (body.firstChild) {
        body.removeChild(body.firstChild);
      }
      rows.forEach(function (row) {
        row.hidden = false;
        body.appendChild(row);
      });
    }

    function keepInAddress(values) {
      var query = new URLSearchParams(values).toString();
      if (!query && !location.search) {
        return; // nothing to keep, nothing to clear (and the #fragment stays)
      }
      try {
        history.replaceState(null, "", query ? "?" + query : location.pathname);
      } catch (error) {
        // file:// pages may refuse: the filter still applies
      }
    }

    function apply() {
      var values = filters();
      var active = Object.keys(values).length > 0;
      pagers.forEach(function (pager) {
        pager.hidden = active;
      });
      keepInAddress(values);
      if (!active) {
        show(pageRows);
        status.textContent = "";
        status.removeAttribute("data-matches");
        return;
      }
      var count;
      if (entries !== null) {
        var found = entries.filter(function (entry) {
          return matches(entry, values);
        });
        show(found.map(entryRow));
        count = found.length;
        status.textContent = count + " of the trail's " + entries.length + " entries match.";
      } else {
        show(pageRows);
        count = 0;
        pageRows.forEach(function (row) {
          var entry = rowEntry(row);
          row.hidden = !(entry && matches(entry, values));
          count += row.hidden ? 0 : 1;
        });
        status.textContent =
          count + " of this page's " + pageRows.length + " entries match " +
          "(the whole trail is filtered when the site is served over http).";
      }
      status.setAttribute("data-matches", String(count));
    }

    var query = new URLSearchParams(location.search);
    FIELDS.forEach(function (name) {
      var input = form.elements.namedItem(name);
      if (input && query.get(name)) {
        input.value = query.get(name);
      }
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      apply();
    });
    form.addEventListener("input", apply);

    function ready(scope) {
      status.setAttribute("data-scope", scope);
      apply();
    }

    if (!window.fetch || location.protocol === "file:") {
      ready("page");
      return;
    }
    fetch(root + "audit.json")
      .then(function (answer) {
        if (!answer.ok) {
          throw new Error("audit.json: " + answer.status);
        }
        return answer.json();
      })
      .then(function (data) {
        entries = data.entries;
        ready("trail");
      })
      .catch(function () {
        ready("page");
      });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
