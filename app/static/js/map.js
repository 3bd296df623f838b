/* A map of crews, routes and tasks on Leaflet (vendored: no CDN).
 * With a tile URL configured, real tiles lie underneath; without one, the same Web
 * Mercator projection is drawn on a plain background with a graticule and a scale
 * bar, so distances and bearings on screen are still true. An ES module; Leaflet itself
 * is the classic script before it (the global ``L``). */
/* global L */
const STATUS_COLOURS = {
  planned: "#2563eb", assigned: "#2563eb", checked_in: "#d97706", done: "#16a34a",
  flagged: "#dc2626", unassigned: "#6b7280", open: "#6b7280", cancelled: "#9ca3af",
};
const CREW_COLOURS = ["#1d4ed8", "#b45309", "#047857", "#7c3aed", "#be123c", "#0e7490", "#4d7c0f", "#c2410c",
                      "#6d28d9", "#0369a1", "#a21caf", "#15803d"];

function graticule(map) {
  const layer = L.layerGroup().addTo(map);
  function draw() {
    layer.clearLayers();
    const b = map.getBounds();
    const span = Math.max(b.getNorth() - b.getSouth(), b.getEast() - b.getWest());
    const step = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10].find((s) => span / s < 12) || 10;
    for (let lat = Math.floor(b.getSouth() / step) * step; lat <= b.getNorth(); lat += step) {
      L.polyline([[lat, b.getWest()], [lat, b.getEast()]], { color: "#cbd5e1", weight: 1, interactive: false }).addTo(layer);
    }
    for (let lon = Math.floor(b.getWest() / step) * step; lon <= b.getEast(); lon += step) {
      L.polyline([[b.getSouth(), lon], [b.getNorth(), lon]], { color: "#cbd5e1", weight: 1, interactive: false }).addTo(layer);
    }
  }
  map.on("moveend", draw);
  return draw;
}

/* Leaflet puts a string tooltip in with innerHTML: a collector's or debtor's name with
 * markup in it would become elements. Every label goes in as a text node instead. */
function asText(label) {
  if (label instanceof Node) return label;
  const span = document.createElement("span");
  span.textContent = label == null ? "" : String(label);
  return span;
}

export class FCMap {
  constructor(element, options) {
    this.map = L.map(element, { preferCanvas: false, zoomControl: true }).setView([31.23, 121.47], 11);
    const tileUrl = options && options.tileUrl;
    if (tileUrl) {
      L.tileLayer(tileUrl, { maxZoom: 19, attribution: options.attribution || "" }).addTo(this.map);
    } else {
      element.classList.add("plain-map");
      this.drawGraticule = graticule(this.map);
    }
    L.control.scale({ metric: true, imperial: false }).addTo(this.map);
    this.layer = L.featureGroup().addTo(this.map);
  }

  clear() { this.layer.clearLayers(); }

  crewColour(index) { return CREW_COLOURS[index % CREW_COLOURS.length]; }

  statusColour(status) { return STATUS_COLOURS[status] || "#6b7280"; }

  route(points, colour, label) {
    if (points.length < 2) return null;
    return L.polyline(points, { color: colour, weight: 3, opacity: 0.8 }).bindTooltip(asText(label)).addTo(this.layer);
  }

  home(lat, lon, colour, label, key) {
    // ``key`` (a crew's code) names the marker in the page, so a stop can be dropped on it.
    const options = { radius: 7, color: "#111827", weight: 2, fillColor: colour, fillOpacity: 1 };
    if (key) options.className = `crew-home crew-home-${String(key).replace(/[^A-Za-z0-9_-]/g, "_")}`;
    return L.circleMarker([lat, lon], options).bindTooltip(asText(label)).addTo(this.layer);
  }

  position(lat, lon, colour, label) {
    return L.circleMarker([lat, lon], { radius: 5, color: colour, weight: 3, fillColor: "#fff", fillOpacity: 1 })
      .bindTooltip(asText(label)).addTo(this.layer);
  }

  task(lat, lon, status, label, onClick) {
    const marker = L.circleMarker([lat, lon], { radius: 6, color: "#fff", weight: 1.5,
      fillColor: this.statusColour(status), fillOpacity: 0.95 }).bindTooltip(asText(label)).addTo(this.layer);
    if (onClick) marker.on("click", onClick);
    return marker;
  }

  /* A stop's pin: its number in the route, its crew's colour, its status as a shape or
   * ring (planned: a disc; at the door: an amber ring; done: a square; done with a
   * flag: a square with a red ring; withdrawn: a hollow dashed disc; unassigned: a grey
   * diamond); ``changed`` rings it in magenta (a draft moves it). Built from elements,
   * never markup. */
  pin(lat, lon, options) {
    const o = options || {};
    const face = document.createElement("div");
    face.className = `pin pin-${o.status || "assigned"}${o.changed ? " pin-changed" : ""}${o.draft ? " pin-draft" : ""}`;
    face.textContent = o.number === null || o.number === undefined ? "" : String(o.number);
    if (o.key !== undefined) face.dataset.task = String(o.key);
    if (o.colour && o.status !== "withdrawn" && o.status !== "open") face.style.backgroundColor = o.colour;
    if (o.draft && o.colour) { face.style.borderColor = o.colour; face.style.color = o.colour; face.style.backgroundColor = "#fff"; }
    const marker = L.marker([lat, lon], {
      icon: L.divIcon({ html: face, className: "pin-icon", iconSize: [24, 24], iconAnchor: [12, 12] }),
      draggable: !!o.draggable, keyboard: false, title: "", riseOnHover: true,
    });
    marker.bindTooltip(asText(o.label)).addTo(this.layer);
    if (o.onClick) marker.on("click", o.onClick);
    return marker;
  }

  /* A dashed line: a draft's route beside the committed one. */
  draftRoute(points, colour, label) {
    if (points.length < 2) return null;
    return L.polyline(points, { color: colour, weight: 3, opacity: 0.9, dashArray: "6 6" })
      .bindTooltip(asText(label)).addTo(this.layer);
  }

  /* The legend: what each pin shape means, and each crew's colour. ``items`` are
   * [{kind: "status"|"crew", key, label, colour}]. */
  legend(items, title) {
    if (this.legendControl) this.legendControl.remove();
    const control = L.control({ position: "bottomleft" });
    control.onAdd = () => {
      // Folded on a narrow screen, where it would cover the map; open on a wide one.
      const box = document.createElement("details");
      box.className = "map-legend";
      box.open = this.legendOpen ?? this.map.getSize().x > 600;
      box.addEventListener("toggle", () => { this.legendOpen = box.open; });
      if (title) {
        const summary = document.createElement("summary");
        summary.textContent = title;
        box.append(summary);
      }
      for (const item of items) {
        const row = document.createElement("div");
        const mark = document.createElement("span");
        mark.className = item.kind === "crew" ? "legend-line" : `pin pin-${item.key} legend-pin`;
        if (item.colour) mark.style.backgroundColor = item.colour;
        const text = document.createElement("span");
        text.textContent = item.label;
        row.append(mark, text);
        box.append(row);
      }
      L.DomEvent.disableClickPropagation(box);
      return box;
    };
    control.addTo(this.map);
    this.legendControl = control;
    return control;
  }

  /* Which point of ``candidates`` ({key, lat, lon}) lies within ``pixels`` of ``latlng``
   * on screen, nearest first (null: none). */
  nearest(latlng, candidates, pixels) {
    const at = this.map.latLngToContainerPoint(latlng);
    let best = null;
    for (const c of candidates) {
      const d = at.distanceTo(this.map.latLngToContainerPoint([c.lat, c.lon]));
      if (d <= pixels && (!best || d < best.d)) best = { key: c.key, d };
    }
    return best && best.key;
  }

  /* A pin a supervisor places or corrects: dragged, or moved to where the map is
   * clicked; ``onMove(latlng)`` hears every move. Kept across the board's refreshes. */
  editPin(lat, lon, onMove) {
    this.stopPin();
    const face = document.createElement("div");
    face.className = "pin-edit-shape";
    const icon = L.divIcon({ html: face, className: "pin-edit-marker", iconSize: [22, 22], iconAnchor: [11, 26] });
    this.pinMarker = L.marker([lat, lon], { draggable: true, autoPan: true, icon, zIndexOffset: 1000 })
      .addTo(this.map);
    this.pinMarker.on("drag dragend", () => onMove(this.pinMarker.getLatLng()));
    this.pinClick = (e) => { this.pinMarker.setLatLng(e.latlng); onMove(e.latlng); };
    this.map.on("click", this.pinClick);
    this.map.setView([lat, lon], Math.max(this.map.getZoom(), 14));
    return this.pinMarker;
  }

  stopPin() {
    if (this.pinMarker) this.pinMarker.remove();
    if (this.pinClick) this.map.off("click", this.pinClick);
    this.pinMarker = this.pinClick = null;
  }

  centre() { const c = this.map.getCenter(); return { lat: c.lat, lon: c.lng }; }

  fit() {
    const bounds = this.layer.getBounds();
    // One point (a check-in exactly at the address) has no extent to fit: centre on it.
    if (bounds.isValid() && bounds.getSouthWest().equals(bounds.getNorthEast())) this.map.setView(bounds.getCenter(), 16);
    else if (bounds.isValid()) this.map.fitBounds(bounds.pad(0.1));
    if (this.drawGraticule) this.drawGraticule();
  }
}
