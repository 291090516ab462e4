// Shows the name fields only when "Someone else" is chosen; without this script they are always shown.
(function () {
  "use strict";
  var custom = document.getElementById("custom-identity");
  if (!custom) { return; }
  var radios = document.querySelectorAll('input[name="identity"]');
  function update() {
    var other = document.getElementById("identity-custom");
    custom.hidden = !(other && other.checked);
  }
  for (var i = 0; i < radios.length; i += 1) { radios[i].addEventListener("change", update); }
  update();
})();
