// stellate-admin: small progressive enhancements; every page works without this file.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // "Select all" on the change list.
  var all = document.getElementById("select-all");
  if (all) {
    all.addEventListener("change", function () {
      document.querySelectorAll('input[name="_selected"]').forEach(function (box) {
        box.checked = all.checked;
      });
    });
  }

  // Foreign keys with an autocomplete endpoint: a search box that refills the select.
  document.querySelectorAll("select[data-autocomplete]").forEach(function (select) {
    var search = document.createElement("input");
    search.type = "search";
    search.className = "autocomplete-search";
    search.setAttribute("aria-label", "Search " + (select.labels[0] ? select.labels[0].textContent : "options"));
    search.setAttribute("aria-controls", select.id);
    select.parentNode.insertBefore(search, select);
    var timer = null;
    search.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var url = select.dataset.autocomplete + "?q=" + encodeURIComponent(search.value);
        fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
          .then(function (response) { return response.ok ? response.json() : { results: [] }; })
          .then(function (data) {
            var current = select.value;
            var keep = select.options[select.selectedIndex];
            select.innerHTML = "";
            var blank = document.createElement("option");
            blank.value = "";
            blank.textContent = "---------";
            select.appendChild(blank);
            var seen = false;
            data.results.forEach(function (item) {
              var option = document.createElement("option");
              option.value = item.id;
              option.textContent = item.text;
              if (item.id === current) { option.selected = true; seen = true; }
              select.appendChild(option);
            });
            if (!seen && keep && keep.value) { keep.selected = true; select.insertBefore(keep, blank.nextSibling); }
          });
      }, 200);
    });
  });
})();
