// The responsibility map (责任区域一张图) drawn as SVG from the reference data's grid polygons: no map
// tiles, nothing fetched from outside. Open whistles are drawn on it where they were reported (or at the
// middle of their grid when they came without coordinates).

import { s } from "./dom.js";
import { name } from "./i18n.js";

let loading = null;
/** The map, fetched once per page load. */
export function areas() {
  loading ??= fetch("/board/areas", { cache: "no-store" }).then((r) => {
    if (!r.ok) throw new Error(`map: HTTP ${r.status}`);
    return r.json();
  });
  return loading;
}

const WIDTH = 1000;

function ringsOf(feature) {
  const g = feature.geometry;
  if (g.type === "Polygon") return [g.coordinates];
  if (g.type === "MultiPolygon") return g.coordinates;
  return [];
}

function inside([x, y], ring) {
  let hit = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [xi, yi] = ring[i], [xj, yj] = ring[j];
    if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) hit = !hit;
  }
  return hit;
}

/** The grid whose polygon holds a point, or null (a gap, 空白区域). */
export function gridAt(geo, lon, lat) {
  for (const feature of geo.features) {
    for (const polygon of ringsOf(feature)) {
      if (inside([lon, lat], polygon[0]) && !polygon.slice(1).some((hole) => inside([lon, lat], hole))) {
        return feature.properties.grid_code;
      }
    }
  }
  return null;
}

function projection(features) {
  let minLon = Infinity, maxLon = -Infinity, minLat = Infinity, maxLat = -Infinity;
  for (const f of features) for (const polygon of ringsOf(f)) for (const [lon, lat] of polygon[0]) {
    minLon = Math.min(minLon, lon); maxLon = Math.max(maxLon, lon);
    minLat = Math.min(minLat, lat); maxLat = Math.max(maxLat, lat);
  }
  const kx = Math.cos((((minLat + maxLat) / 2) * Math.PI) / 180);
  const scale = WIDTH / Math.max((maxLon - minLon) * kx, 1e-9);
  return {
    x: (lon) => (lon - minLon) * kx * scale,
    y: (lat) => (maxLat - lat) * scale,
    lon: (x) => x / scale / kx + minLon,
    lat: (y) => maxLat - y / scale,
  };
}

function box(points) {
  const xs = points.map((p) => p[0]), ys = points.map((p) => p[1]);
  return { x0: Math.min(...xs), y0: Math.min(...ys), x1: Math.max(...xs), y1: Math.max(...ys) };
}

/**
 * The map as an <svg>. focus: a street code to zoom to (its neighbours drawn faded);
 * markers: [{id, lon, lat, grid, label, title, overdue}]; pick(lon, lat, grid): a click on the map.
 */
export function drawMap(geo, { focus = null, markers = [], pick = null, streets = [] } = {}) {
  const features = geo.features || [];
  const svg = s("svg", { class: "map", role: "img", "data-map": "" });
  if (!features.length) return svg;
  const p = projection(features);
  // zoomed to a street, its communities take the colours; otherwise the streets do
  const colour = new Map(streets.map((code, i) => [code, i % 6]));
  const communities = [...new Set(features.filter((f) => f.properties.street_code === focus)
    .map((f) => f.properties.community_code))];
  const shade = (f) => (f.properties.street_code === focus ? communities.indexOf(f.properties.community_code) % 6
                                                            : colour.get(f.properties.street_code) ?? 0);
  const centres = new Map();
  const byStreet = new Map();
  const gridLayer = s("g", { class: "grids" });
  for (const f of features) {
    const { grid_code: grid, street_code: street } = f.properties;
    const points = [];
    const d = ringsOf(f).map((polygon) => polygon.map((ring) => ring.map(([lon, lat], i) => {
      points.push([p.x(lon), p.y(lat)]);
      return `${i ? "L" : "M"}${p.x(lon).toFixed(1)},${p.y(lat).toFixed(1)}`;
    }).join("") + "Z").join("")).join("");
    const b = box(points);
    centres.set(grid, [(b.x0 + b.x1) / 2, (b.y0 + b.y1) / 2]);
    byStreet.set(street, [...(byStreet.get(street) || []), ...points]);
    gridLayer.append(s("path", {
      d, "data-grid": grid,
      class: ["grid", `street-${shade(f)}`, focus && (street === focus ? "focus" : "faded")],
    }, s("title", {}, `${name("grid", grid)} · ${name("street", street)}`)));
  }
  const all = box([...byStreet.values()].flat());
  const shown = focus && byStreet.has(focus) ? box(byStreet.get(focus)) : all;
  const pad = Math.max(shown.x1 - shown.x0, shown.y1 - shown.y0) * 0.06;
  const view = [shown.x0 - pad, shown.y0 - pad, shown.x1 - shown.x0 + 2 * pad, shown.y1 - shown.y0 + 2 * pad];
  svg.setAttribute("viewBox", view.map((v) => v.toFixed(1)).join(" "));
  svg.append(gridLayer);
  const unit = Math.max(view[2], view[3]) / 60;
  const labels = s("g", { class: "street-labels" });
  if (focus) {
    for (const f of features) {
      if (f.properties.street_code !== focus) continue;
      const [x, y] = centres.get(f.properties.grid_code);
      labels.append(s("text", { x, y, "font-size": unit * 1.1, "text-anchor": "middle", class: "grid-label" },
        name("grid", f.properties.grid_code)));
    }
  } else {
    for (const [street, points] of byStreet) {
      const b = box(points);
      labels.append(s("text", { x: (b.x0 + b.x1) / 2, y: (b.y0 + b.y1) / 2, "font-size": unit * 1.4, "text-anchor": "middle" },
        name("street", street)));
    }
  }
  svg.append(labels);
  const markerLayer = s("g", { class: "markers" });
  for (const m of markers) {
    let at = null;
    if (typeof m.lon === "number" && typeof m.lat === "number") at = [p.x(m.lon), p.y(m.lat)];
    else if (m.grid && centres.has(m.grid)) at = centres.get(m.grid);
    if (!at) continue;
    markerLayer.append(s("a", { href: `#whistle/${encodeURIComponent(m.id)}`, "data-marker": m.id },
      s("g", { class: ["marker", m.overdue && "overdue"], transform: `translate(${at[0].toFixed(1)},${at[1].toFixed(1)})` },
        s("circle", { r: unit * 1.3 }),
        m.label ? s("text", { "font-size": unit * 1.4, "text-anchor": "middle", dy: unit * 0.5 }, m.label) : null,
        s("title", {}, m.title || ""))));
  }
  svg.append(markerLayer);
  if (pick) {
    svg.classList.add("pickable");
    svg.addEventListener("click", (event) => {
      const matrix = svg.getScreenCTM();
      if (!matrix) return;
      const point = new DOMPoint(event.clientX, event.clientY).matrixTransform(matrix.inverse());
      const lon = p.lon(point.x), lat = p.lat(point.y);
      pick(lon, lat, gridAt(geo, lon, lat));
    });
  }
  return svg;
}
