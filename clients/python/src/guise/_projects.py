"""A project's datasets: building them, following their jobs, reading their rows."""

import time
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional
from urllib.parse import quote

from ._errors import GuiseException

if TYPE_CHECKING:
    from .client import GuiseClient

FINISHED = ("Succeeded", "Failed", "Refused")
# Dataiku's default job type; the only one Guise has (it builds the dataset asked for, nothing upstream).
NON_RECURSIVE_FORCED_BUILD = "NON_RECURSIVE_FORCED_BUILD"
FIRST_POLL = 0.2
LONGEST_POLL = 2.0


class GuiseProject:
    def __init__(self, client: "GuiseClient", project_key: str):
        self.client = client
        self.project_key = project_key

    def get_dataset(self, dataset_name: str) -> "GuiseDataset":
        return GuiseDataset(self.client, self.project_key, dataset_name)


class GuiseDataset:
    def __init__(self, client: "GuiseClient", project_key: str, dataset_name: str):
        self.client = client
        self.project_key = project_key
        self.dataset_name = dataset_name

    def _path(self, action: str) -> str:
        return f"/v2/datasets/{quote(self.dataset_name, safe='')}/{action}"

    def build(self, job_type: Optional[str] = None, partitions: Any = None, wait: bool = True,
              no_fail: bool = False) -> "GuiseJob":
        """Starts a build run as the token's subject, and by default waits for its end.

        Raises GuiseException when Guise refuses the build (403), and when the job fails or is
        refused, unless `no_fail`.
        """
        if job_type not in (None, NON_RECURSIVE_FORCED_BUILD):
            raise ValueError(f"job_type {job_type!r}: Guise builds only the dataset asked for ({NON_RECURSIVE_FORCED_BUILD})")
        if partitions is not None:
            raise ValueError("Guise datasets have no partitions")
        started = self.client._call("POST", self._path("build"), params={"project": self.project_key})
        job = GuiseJob(self.client, started["jobId"], run_as=started.get("runAs"))
        if wait:
            job.wait(no_fail=no_fail)
        return job

    def iter_rows(self, page_size: Optional[int] = None) -> Iterator[List[Any]]:
        """Every row the token's subject may see, page after page (masked cells come masked).

        Raises GuiseException (409) if the dataset is rebuilt while being read: read it again.
        """
        page: Optional[str] = None
        while True:
            params: Dict[str, Any] = {"project": self.project_key}
            if page_size is not None:
                params["pageSize"] = page_size
            if page is not None:
                params["page"] = page
            answer = self.client._call("GET", self._path("rows"), params=params)
            yield from answer["rows"]
            page = answer.get("nextPage")
            if not page:
                return


class GuiseJob:
    def __init__(self, client: "GuiseClient", job_id: int, run_as: Optional[Dict[str, Any]] = None):
        self.client = client
        self.id = job_id
        self.run_as = run_as  # {"id", "email", "name"}: whom the job runs as

    def get_status(self) -> Dict[str, Any]:
        """The job as `/v2/jobs/{id}` answers: status, progress, error, log…"""
        status = self.client._call("GET", f"/v2/jobs/{self.id}")
        self.run_as = status.get("runAs", self.run_as)
        return status

    def get_log(self) -> List[Dict[str, Any]]:
        return self.get_status().get("log", [])

    def wait(self, timeout: Optional[float] = None, no_fail: bool = False) -> Dict[str, Any]:
        """Polls until the job ends and returns its last status.

        Raises GuiseException if it Failed or was Refused (unless `no_fail`), or is still running
        after `timeout` seconds.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        pause = FIRST_POLL
        while True:
            status = self.get_status()
            if status["status"] in FINISHED:
                break
            if deadline is not None and time.monotonic() + pause > deadline:
                raise GuiseException(None, "timeout", f"job {self.id} is still {status['status']} after {timeout:g} s")
            time.sleep(pause)
            pause = min(pause * 1.5, LONGEST_POLL)
        if status["status"] != "Succeeded" and not no_fail:
            reason = status.get("error") or "no reason given"
            raise GuiseException(None, f"job_{status['status'].lower()}",
                                 f"job {self.id} building {status.get('dataset')} {status['status']}: {reason}")
        return status
