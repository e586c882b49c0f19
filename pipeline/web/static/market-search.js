// The Marketplace catalog's search in the browser, on the static site's market.html (the
// console's /market searches on the server). It reads the JSON index beside the pages
// (a#market-index-link: market/_index.json) and ranks and filters it as `px-market search`
// does: every query word a prefix of a word of the listing; a word found in the title
// counts 10, in tags / categories / vendor 5, in the summary 2, in the description 1;
// deprecated listings last. Filters:
// category, pricing, host version (a listed version whose powerx range holds it; the hit
// names the newest such version), verified. Facets count the hits; with fewer than 3 hits
// a word the index does not hold is replaced by the closest one (edit distance <= 2) and
// offered as "did you mean".
//
// With JavaScript off, or where the index cannot be read (file:// pages), the page is the
// server-rendered list, paged. Filters come from the form (#market-search) and from the
// address (market.html?q=...), and are kept in the address.
//
// DOM hooks: form#market-search (q, category, pricing, compatible, verified);
// #market-results (an <ol>, one <li data-plugin> per hit); #market-count;
// #market-facets; a#market-all (the plain list: plugin pages are its siblings);
// #market-status gets data-scope="index" once the index is in use ("page" when it cannot
// be read). At most SHOWN hits are rendered.
(function () {
  "use strict";
  var WEIGHTS = { title: 10, tags: 5, summary: 2, text: 1 };
  var FILTERS = ["q", "category", "pricing", "compatible", "verified"];
  var SHOWN = 100; // hits rendered at most (the count says how many there are)

  function words(text) {
    return (text || "").toLowerCase().match(/[\p{L}\p{N}_]+/gu) || [];
  }

  function compare(a, b) {
    for (var i = 0; i < 3; i++) {
      if (a[i] !== b[i]) {
        return a[i] < b[i] ? -1 : 1;
      }
    }
    return 0;
  }

  function hostOf(text) {
    var parts = (text || "").trim().split(".");
    if (!text || parts.length > 3 || parts.some(function (p) { return !/^\d+$/.test(p); })) {
      return null;
    }
    while (parts.length < 3) {
      parts.push("0");
    }
    return parts.map(Number);
  }

  function runsOn(version, host) {
    if ((version.lo && compare(host, version.lo) < 0) || (version.hi && compare(host, version.hi) > 0)) {
      return false;
    }
    return !version.not.some(function (k) { return compare(k, host) === 0; });
  }

  function distance(a, b) {
    var row = [];
    for (var j = 0; j <= b.length; j++) {
      row.push(j);
    }
    for (var i = 1; i <= a.length; i++) {
      var previous = row[0];
      row[0] = i;
      for (j = 1; j <= b.length; j++) {
        var kept = row[j];
        row[j] = Math.min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
        previous = kept;
      }
    }
    return row[b.length];
  }

  function prepare(listing) {
    listing.fields = {
      title: words(listing.title + " " + listing.plugin),
      tags: words(listing.tags.concat(listing.categories, [listing.vendor]).join(" ")),
      summary: words(listing.summary),
      text: words(listing.text)
    };
    return listing;
  }

  function score(listing, query) {
    var total = 0;
    for (var i = 0; i < query.length; i++) {
      var best = 0;
      for (var field in WEIGHTS) {
        if (listing.fields[field].some(function (w) { return w.indexOf(query[i]) === 0; })) {
          best = Math.max(best, WEIGHTS[field]);
        }
      }
      if (!best) {
        return 0;
      }
      total += best;
    }
    return query.length ? total : 1;
  }

  function search(listings, values) {
    var query = words(values.q);
    var host = hostOf(values.compatible);
    var hits = [];
    listings.forEach(function (listing) {
      if (values.category && listing.categories.indexOf(values.category) < 0) {
        return;
      }
      if ((values.pricing && listing.pricing !== values.pricing) || (values.verified && !listing.verified)) {
        return;
      }
      var version = listing.latest;
      if (values.compatible) {
        var fits = host ? listing.versions.filter(function (v) { return runsOn(v, host); }) : [];
        fits.sort(function (a, b) { return (a.deprecated - b.deprecated); });
        if (!fits.length) {
          return;
        }
        version = fits[0].version;
      }
      var points = score(listing, query);
      if (points) {
        hits.push({ listing: listing, score: points, version: version });
      }
    });
    hits.sort(function (a, b) {
      return (a.listing.deprecated - b.listing.deprecated) || (b.score - a.score) ||
        (a.listing.plugin < b.listing.plugin ? -1 : 1);
    });
    return hits;
  }

  function suggest(listings, values, found) {
    var query = words(values.q);
    if (!query.length || found >= 3) {
      return null;
    }
    var vocabulary = {};
    listings.forEach(function (l) {
      for (var field in l.fields) {
        l.fields[field].forEach(function (w) { vocabulary[w] = true; });
      }
    });
    var changed = false;
    var fixed = query.map(function (word) {
      if (Object.keys(vocabulary).some(function (w) { return w.indexOf(word) === 0; })) {
        return word;
      }
      var best = null;
      var bestDistance = 3;
      Object.keys(vocabulary).forEach(function (w) {
        if (Math.abs(w.length - word.length) <= 2) {
          var d = distance(word, w);
          if (d < bestDistance || (d === bestDistance && best !== null && w < best)) {
            best = w;
            bestDistance = d;
          }
        }
      });
      changed = changed || best !== null;
      return best || word;
    });
    return changed ? fixed.join(" ") : null;
  }

  function start() {
    var form = document.getElementById("market-search");
    var list = document.getElementById("market-results");
    var indexLink = document.getElementById("market-index-link");
    var allLink = document.getElementById("market-all");
    if (!form || !list || !indexLink || !allLink) {
      return;
    }
    var count = document.getElementById("market-count");
    var facets = document.getElementById("market-facets");
    var status = document.getElementById("market-status");
    var pager = list.nextElementSibling;
    var listings = null;

    function pageUrl(plugin) {
      return allLink.href.replace(/_index(\.html)?$/, function (match, extension) {
        return encodeURIComponent(plugin) + (extension || "");
      });
    }

    function read() {
      var values = {};
      FILTERS.forEach(function (name) {
        var input = form.elements.namedItem(name);
        if (input && input.type === "checkbox") {
          values[name] = input.checked ? "1" : "";
        } else {
          values[name] = input && input.value ? input.value.trim() : "";
        }
      });
      return values;
    }

    function fill(values) {
      FILTERS.forEach(function (name) {
        var input = form.elements.namedItem(name);
        if (!input || values[name] === undefined) {
          return;
        }
        if (input.type === "checkbox") {
          input.checked = !!values[name];
        } else {
          input.value = values[name];
        }
      });
    }

    function element(tag, text, className) {
      var node = document.createElement(tag);
      if (text) {
        node.textContent = text;
      }
      if (className) {
        node.className = className;
      }
      return node;
    }

    function renderHit(hit) {
      var l = hit.listing;
      var item = element("li");
      item.setAttribute("data-plugin", l.plugin);
      var link = element("a");
      link.href = pageUrl(l.plugin);
      link.appendChild(element("strong", l.title));
      item.appendChild(link);
      item.appendChild(document.createTextNode(" "));
      item.appendChild(element("code", l.plugin));
      item.appendChild(document.createTextNode(" " + hit.version + (hit.version !== l.latest ? " (newest " + l.latest + ")" : "")));
      if (l.verified) {
        item.appendChild(document.createTextNode(" "));
        item.appendChild(element("span", "verified", "good"));
      }
      if (l.deprecated) {
        item.appendChild(document.createTextNode(" "));
        item.appendChild(element("span", "deprecated", "bad"));
      }
      item.appendChild(element("br"));
      item.appendChild(document.createTextNode(l.summary));
      item.appendChild(element("br"));
      item.appendChild(element("small", l.categories.join(", ") + " · " + l.pricing + (l.trial ? ", trial" : "") + " · " + l.vendor));
      return item;
    }

    function renderFacets(hits) {
      var counts = { categories: {}, pricing: {}, verified: {} };
      hits.forEach(function (hit) {
        hit.listing.categories.forEach(function (c) { counts.categories[c] = (counts.categories[c] || 0) + 1; });
        counts.pricing[hit.listing.pricing] = (counts.pricing[hit.listing.pricing] || 0) + 1;
        if (hit.listing.verified) {
          counts.verified["verified vendors"] = (counts.verified["verified vendors"] || 0) + 1;
        }
      });
      Array.prototype.forEach.call(facets.querySelectorAll("p.facet"), function (line) {
        var values = counts[line.getAttribute("data-facet")] || {};
        var title = line.querySelector("strong");
        while (line.lastChild !== title) {
          line.removeChild(line.lastChild);
        }
        var names = Object.keys(values).sort(function (a, b) { return (values[b] - values[a]) || (a < b ? -1 : 1); });
        line.appendChild(document.createTextNode(" " + (names.length ? names.map(function (n) { return n + " (" + values[n] + ")"; }).join(", ") : "none")));
      });
    }

    var shown = null;

    function apply(push) {
      var values = read();
      var key = JSON.stringify(values);
      if (key === shown) {
        return; // "change" after "input": nothing new (and a link about to be clicked stays)
      }
      shown = key;
      var hits = search(listings, values);
      while (list.firstChild) {
        list.removeChild(list.firstChild);
      }
      hits.slice(0, SHOWN).forEach(function (hit) { list.appendChild(renderHit(hit)); });
      if (!hits.length) {
        list.appendChild(element("li", "No listing matches.", "empty"));
      }
      count.textContent = hits.length + " listing(s)" + (hits.length > SHOWN ? ", the first " + SHOWN + " shown" : "");
      var old = document.getElementById("market-did-you-mean");
      if (old) {
        old.parentNode.removeChild(old.previousSibling);
        old.parentNode.removeChild(old);
      }
      var guess = suggest(listings, values, hits.length);
      if (guess) {
        var more = search(listings, Object.assign({}, values, { q: guess })).length;
        if (more > hits.length) {
          var offer = element("span");
          offer.id = "market-did-you-mean";
          var link = element("a", guess);
          link.href = "#";
          link.addEventListener("click", function (event) {
            event.preventDefault();
            fill({ q: guess });
            apply(true);
          });
          offer.appendChild(document.createTextNode("Did you mean "));
          offer.appendChild(link);
          offer.appendChild(document.createTextNode(" (" + more + ")?"));
          count.parentNode.insertBefore(offer, count.nextSibling);
          count.parentNode.insertBefore(document.createTextNode(" · "), offer);
        }
      }
      renderFacets(hits);
      if (pager) {
        pager.hidden = true;
      }
      if (push && window.history && window.history.replaceState) {
        var query = FILTERS.filter(function (n) { return values[n]; }).map(function (n) {
          return encodeURIComponent(n) + "=" + encodeURIComponent(values[n]);
        }).join("&");
        window.history.replaceState(null, "", window.location.pathname + (query ? "?" + query : ""));
      }
    }

    var fromAddress = {};
    new URLSearchParams(window.location.search).forEach(function (value, name) {
      fromAddress[name] = value;
    });
    fetch(indexLink.href, { headers: { accept: "application/json" } })
      .then(function (answer) {
        if (!answer.ok) {
          throw new Error("HTTP " + answer.status);
        }
        return answer.json();
      })
      .then(function (index) {
        listings = index.listings.map(prepare);
        fill(fromAddress);
        status.setAttribute("data-scope", "index");
        form.addEventListener("input", function () { apply(true); });
        form.addEventListener("change", function () { apply(true); });
        form.addEventListener("submit", function (event) {
          event.preventDefault();
          apply(true);
        });
        if (FILTERS.some(function (n) { return fromAddress[n]; })) {
          apply(false); // the site's links carry filters the server could not apply
        }
      })
      .catch(function () {
        status.setAttribute("data-scope", "page");
      });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
