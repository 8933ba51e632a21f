// The admin dashboard's charts (src/views/admin-dashboard.tsx): reads the
// counters from the page's data-dashboard attribute and draws each chart with
// uPlot (loaded before this file). A file, not an inline script: the CSP
// allows scripts from this origin only.
(() => {
  const root = document.getElementById('dashboard');
  if (!root || typeof window.uPlot !== 'function') return;
  const data = JSON.parse(root.dataset.dashboard);
  const colors = ['#2557d6', '#dc2626', '#f59e0b', '#059669'];

  function draw(windowData, section, byDay) {
    for (const chart of windowData.charts) {
      const target = section.querySelector(`[data-chart="${chart.id}"]`);
      if (!target) continue;
      const width = Math.max(260, Math.min(target.clientWidth || 320, 560));
      const options = {
        width,
        height: 180,
        scales: { x: { time: true } },
        axes: [{ values: byDay ? '{YYYY}-{MM}-{DD}' : '{HH}:{mm}' }, {}],
        series: [{}, ...chart.series.map((series, i) => ({ label: series.label, stroke: colors[i % colors.length], width: 2 }))],
      };
      const values = [windowData.times, ...chart.series.map((series) => series.values)];
      new window.uPlot(options, values, target);
    }
  }

  for (const section of root.querySelectorAll('section.window')) {
    const which = section.dataset.window;
    if (which === 'day') draw(data.day, section, false);
    if (which === 'week') draw(data.week, section, true);
  }
})();
