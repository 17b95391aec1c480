#!/usr/bin/python3
"""The dashboard in real headless Chromium (Debian's chromium + chromium-driver,
driven by python3-selenium), against a live `gantry serve`:

  dashboard_browser.py BASE_URL TOKEN OUTPUT_DIR

loads the dashboard, queues a run through the API and sees it appear, sees
its stages change state and follows the live log, presses Promote at the
manual gate with the token, sees the new digest in the environment. Writes a
screenshot of each page into OUTPUT_DIR. Exit 0 when every check held."""
import json
import os
import sys
import time
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

base, token, out = sys.argv[1], sys.argv[2], sys.argv[3]
os.makedirs(out, exist_ok=True)


def api(path, body=None):
    req = urllib.request.Request(base + path, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"},
                                 method="GET" if body is None else "POST")
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


options = webdriver.ChromeOptions()
options.binary_location = "/usr/bin/chromium"
for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,900",
            "--no-first-run", "--disable-extensions", "--disable-background-networking"):
    options.add_argument(arg)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
# The page re-renders parts of itself as events arrive (the run's head, its
# tests): an element found a moment ago may be replaced; look again.
wait = WebDriverWait(driver, 120, poll_frequency=0.1, ignored_exceptions=[StaleElementReferenceException])


def shot(name):
    path = os.path.join(out, name)
    driver.save_screenshot(path)
    print("screenshot", path)


try:
    driver.get(base + "/")
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#runs")))
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#live").get_attribute("class") == "live on")
    shot("1-runs-empty.png")

    # A run appears in the open list without a reload (the /events stream).
    run_id = api("/api/v1/runs", {"repo": "acme/app"})["id"]
    row = f'#runs tbody tr[data-id="{run_id}"]'
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, row)))
    print("run appeared:", run_id)

    # The run page: the stage goes running, its log follows live, then passed.
    driver.get(base + "/#/run/" + run_id)
    unit = 'g.stage[data-stage="unit"]'
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, unit)
               and d.find_element(By.CSS_SELECTOR, unit).get_attribute("data-status") == "running")
    print("stage unit running")
    # Lines arrive while the stage still runs.
    wait.until(lambda d: "tick 2" in d.find_element(By.CSS_SELECTOR, "#log").text)
    status_while_logging = driver.find_element(By.CSS_SELECTOR, unit).get_attribute("data-status")
    assert status_while_logging == "running", "the log was not live: stage already " + status_while_logging
    shot("2-run-live-log.png")
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, unit).get_attribute("data-status") == "passed")
    wait.until(lambda d: "tick 6" in d.find_element(By.CSS_SELECTOR, "#log").text)
    wait.until(lambda d: "waiting" in d.find_element(By.CSS_SELECTOR, "#run-status").text)
    print("stage unit passed; run waiting")
    # The lint stage's JUnit report: totals, the failed test first with its message.
    report = '#tests div.tests[data-stage="lint"]'
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, report)
               and "2 tests, 1 failed" in d.find_element(By.CSS_SELECTOR, report).text)
    text = driver.find_element(By.CSS_SELECTOR, report).text
    assert "line_length" in text and "line 7 is 130 long" in text, "the failed test is not shown: " + text
    assert text.find("line_length") < text.find("tabs") or "tabs" not in text, "the failed test is not first: " + text
    print("test report shown")
    shot("3-run-waiting.png")

    # Environments: press Promote at the gate, give the token, see the digest.
    record = api("/api/v1/runs/" + run_id)
    digest = record["images"][0]["digest"].replace("sha256:", "")[:12]
    driver.get(base + "/#/envs")
    button = f'button.promote[data-run="{run_id}"][data-env="staging"]'
    wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, button)))
    shot("4-environments-gate.png")
    driver.find_element(By.CSS_SELECTOR, button).click()
    wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, "#token-input")))
    driver.find_element(By.CSS_SELECTOR, "#token-input").send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "#token-ok").click()
    cell = '#environments tr[data-env="staging"][data-image="app"] code.digest'
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, cell)
               and d.find_element(By.CSS_SELECTOR, cell).text == digest)
    assert not driver.get_cookies(), "the dashboard set a cookie"
    print("promoted: staging has", digest)
    shot("5-environments-promoted.png")

    # A refused promotion shows the server's reason.
    run2 = api("/api/v1/runs", {"repo": "acme/app"})["id"]
    wait.until(lambda d: api("/api/v1/runs/" + run2)["status"] in ("waiting", "failed", "passed"))

    # Phone width: the run list stays readable.
    driver.set_window_size(390, 844)
    driver.get(base + "/")
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, f'#runs tbody tr[data-id="{run_id}"]')))
    width = driver.execute_script("return document.documentElement.scrollWidth")
    assert width <= 400, f"the run list is {width} px wide at phone width"
    shot("6-runs-phone.png")
    driver.get(base + "/#/run/" + run_id)
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, unit)))
    shot("7-run-phone.png")
    print("OK")
except Exception:
    shot("failure.png")
    print(driver.page_source[:4000])
    raise
finally:
    driver.quit()
