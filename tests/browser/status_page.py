"""The status page in headless Chromium against `sfn-local serve`: start a run and watch the bar
reach 100 %, reload and cancel a run mid-way, retry the failed actions of a partial run, and read each
goal's runs in the history list. Screenshots go to target/browser/.

Usage: python tests/browser/status_page.py path/to/sfn-local
Debian's chromium and chromedriver by default; CHROME_BIN and CHROMEDRIVER point elsewhere.
"""

import os
import pathlib
import re
import subprocess
import sys
import tempfile
import threading

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ready
from selenium.webdriver.support.ui import Select, WebDriverWait

SHOTS = pathlib.Path("target/browser")


def serve(binary: str, key_file: pathlib.Path):
    process = subprocess.Popen(
        [binary, "serve", "--port", "0", "--ai-latency", "1", "--key-file", str(key_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    line = process.stdout.readline()
    if "listening on " not in line:
        process.kill()
        raise SystemExit(f"sfn-local serve did not start: {line!r}")
    # Keep draining stdout so the server never writes to a closed pipe.
    threading.Thread(target=process.stdout.read, daemon=True).start()
    return process, line.split("listening on ")[1].strip()


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("CHROME_BIN", "/usr/bin/chromium")
    # No background networking: the test machine may have no way out, and Chromium's own update and
    # sync connections would only slow it down.
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1000,800",
    ):
        options.add_argument(flag)
    driver = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
    return webdriver.Chrome(service=Service(driver), options=options)


def text(driver, element_id):
    return driver.find_element(By.ID, element_id).text


def runs(driver):
    """The history list's rows: status, actions, failed and notes of each run, newest first."""
    rows = driver.find_elements(By.CSS_SELECTOR, "#runs tr")
    return [[cell.text for cell in row.find_elements(By.TAG_NAME, "td")][1:] for row in rows]


def watched(driver):
    return driver.find_element(By.ID, "run").get_attribute("data-execution-arn")


def start(driver, wait, goal_id):
    """Starts the goal's run after confirming; returns once the page shows the new run."""
    wait.until(lambda d: goal_id in [o.get_attribute("value") for o in Select(d.find_element(By.ID, "goal")).options])
    Select(driver.find_element(By.ID, "goal")).select_by_value(goal_id)
    before = watched(driver)
    wait.until(ready.element_to_be_clickable((By.ID, "start"))).click()
    confirm = wait.until(ready.alert_is_present())
    assert goal_id in confirm.text, confirm.text
    confirm.accept()
    wait.until(lambda d: watched(d) not in (None, before) and text(d, "status") in ("RUNNING",) + FINAL)
    return watched(driver)


FINAL = ("SUCCEEDED", "PARTIAL", "FAILED", "TIMED_OUT", "ABORTED")
GREEN = "rgba(47, 158, 110, 1)"


def fill_colour(driver):
    return driver.find_element(By.ID, "fill").value_of_css_property("background-color")


def main(binary: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        process, base = serve(binary, pathlib.Path(tmp) / "dev-key")
        driver = browser()
        wait = WebDriverWait(driver, 60, poll_frequency=0.2)
        try:
            driver.get(base)

            # A reload mid-run picks the run up again; cancel it mid-way, after confirming.
            arn = start(driver, wait, "demo-user-example")
            wait.until(lambda d: 0 < int(text(d, "percent").split()[0]) < 100)
            driver.refresh()
            wait.until(lambda d: watched(d) == arn and text(d, "status") == "RUNNING")
            wait.until(lambda d: 0 < int(text(d, "percent").split()[0]) < 100)
            assert re.fullmatch(r"about \d+ s left", text(driver, "eta")), text(driver, "eta")
            driver.find_element(By.ID, "cancel").click()
            confirm = wait.until(ready.alert_is_present())
            assert "Cancel this run?" in confirm.text, confirm.text
            confirm.accept()
            wait.until(lambda d: text(d, "status") == "ABORTED")
            driver.save_screenshot(str(SHOTS / "1-cancelled.png"))
            print(f"cancelled at {text(driver, 'percent')}, {text(driver, 'counts')}")

            # A whole run: the bar reaches 100 %.
            start(driver, wait, "demo-user-example")
            seen = set()
            wait.until(lambda d: seen.add(text(d, "percent")) or text(d, "status") == "SUCCEEDED")
            assert text(driver, "percent") == "100 %", text(driver, "percent")
            assert text(driver, "counts") == "64/64 actions", text(driver, "counts")
            assert text(driver, "eta") == "done", text(driver, "eta")
            assert fill_colour(driver) == GREEN, fill_colour(driver)
            assert text(driver, "outcome") == "", text(driver, "outcome")
            assert any(0 < int(p.split()[0]) < 100 for p in seen), f"no progress between 0 and 100 %: {seen}"
            # The history lists both runs of the goal, newest first, and the goal holds its tasks.
            wait.until(lambda d: [r[0] for r in runs(d)] == ["SUCCEEDED", "ABORTED"])
            assert runs(driver)[0][:3] == ["SUCCEEDED", "64/64", "0"], runs(driver)
            summary = re.fullmatch(r"active · 64 actions · (\d+) tasks", text(driver, "summary"))
            assert summary and int(summary[1]) >= 64, text(driver, "summary")
            driver.save_screenshot(str(SHOTS / "2-complete.png"))
            print(f"complete; the bar showed {sorted(seen, key=lambda p: int(p.split()[0]))}")

            # A partial run lists its failed actions; retrying them completes the goal.
            start(driver, wait, "demo-user-partial")
            wait.until(lambda d: d.find_element(By.ID, "failures").is_displayed())
            failed = [li.text for li in driver.find_elements(By.CSS_SELECTOR, "#failed li")]
            assert len(failed) == 4, failed
            assert text(driver, "counts") == "16/16 actions, 4 failed", text(driver, "counts")
            # Not a green SUCCEEDED bar: the page says how many failed and that they can be retried.
            assert text(driver, "status") == "PARTIAL", text(driver, "status")
            assert fill_colour(driver) != GREEN, fill_colour(driver)
            assert text(driver, "outcome").startswith("4 of 16 actions failed"), text(driver, "outcome")
            assert "Retry them below" in text(driver, "outcome"), text(driver, "outcome")
            assert driver.find_element(By.ID, "retry").is_displayed()
            driver.save_screenshot(str(SHOTS / "3-partial.png"))
            driver.find_element(By.ID, "retry").click()
            wait.until(lambda d: text(d, "counts") == "4/4 actions" and text(d, "status") == "SUCCEEDED")
            assert not driver.find_element(By.ID, "failures").is_displayed()
            wait.until(lambda d: "active)" in Select(d.find_element(By.ID, "goal")).first_selected_option.text)
            wait.until(lambda d: len(runs(d)) == 2 and runs(d)[0][0] == "SUCCEEDED")
            assert runs(driver) == [["SUCCEEDED", "4/4", "0", "retry"], ["PARTIAL", "16/16", "4", ""]], runs(driver)
            assert text(driver, "summary").startswith("active · 16 actions · "), text(driver, "summary")
            assert "kept in the archive" in text(driver, "older"), text(driver, "older")
            # No internal address (memory:///, s3://) reaches the user.
            page = driver.find_element(By.TAG_NAME, "body").text
            assert "://" not in page, page
            driver.save_screenshot(str(SHOTS / "4-retried.png"))
            print(f"partial run failed {len(failed)} actions; the retry completed them")
        except Exception:
            driver.save_screenshot(str(SHOTS / "failure.png"))
            print(driver.page_source[:3000], file=sys.stderr)
            raise
        finally:
            driver.quit()
            process.kill()
    print(f"browser test passed; screenshots in {SHOTS}/")


if __name__ == "__main__":
    main(sys.argv[1])
